import CBLAS

/// The few BLAS calls the kernels use, row-major, with OpenBLAS's own threading switched off:
/// parallelism comes from `Parallelism`, which splits each product into fixed pieces so results
/// do not depend on thread scheduling.
public enum BLAS {
    /// Makes OpenBLAS single-threaded inside each call (it is then safe to call from several
    /// threads at once). Called once before any kernel runs; cheap to call again.
    public static func configureForKernels() {
        openblas_set_num_threads(1)
        // Kernels allocate scratch of a few megabytes per call; fresh pages would cost a page
        // fault each (measured ~6% of a translation step), so freed blocks stay in the heap.
        shim_keep_freed_memory()
    }

    /// Sets OpenBLAS's own thread count (benchmarks of raw sgemm only).
    public static func setLibraryThreads(_ threads: Int) {
        openblas_set_num_threads(Int32(threads))
    }

    /// OpenBLAS's description of its build: version, options, the CPU it was built for.
    static var libraryVersion: String { String(cString: openblas_get_config()) }

    /// OpenBLAS's description of its build and the core it detected.
    public static var configuration: String {
        String(cString: openblas_get_config()) + " core=" + String(cString: openblas_get_corename())
    }

    /// `C = alpha·op(A)·op(B) + beta·C`, row-major. `op(A)` is M×K, `op(B)` is K×N, C is M×N.
    /// - Complexity: 2·M·N·K floating-point operations.
    @inline(__always)
    public static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
