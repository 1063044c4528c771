import CBF16
import CKernels
import Foundation

/// The rate this rank's threads could reach at best in a precision: the denominator of MFU.
///
/// Two measurements, the higher wins: a micro-benchmark of the CPU's widest multiply-add
/// instruction for that precision, on all threads at once (fp32: `trainer_fma_peak`, FMA on 512-,
/// 256- or 128-bit vectors; bf16: `trainer_bf16_dot_peak`, AVX512_BF16 dot products), and the
/// library's matrix product (fp32: OpenBLAS's sgemm on 2000³; bf16: oneDNN's matmul on 1024³ per
/// thread). The micro-benchmark is the honest ceiling: dividing by sgemm alone would read "85%"
/// for a step whose BLAS runs a kernel half as fast as the CPU allows.
public struct MachinePeak: Sendable {
    public var precision: Precision
    /// FLOP/s of the micro-benchmark, all threads together.
    public var microBenchmark: Double
    /// fp32: vector lanes of the FMA micro-benchmark (16, 8, 4; 1 on other CPUs); bf16: 32.
    public var lanes: Int
    /// FLOP/s of the library's matrix product on the threads.
    public var gemm: Double
    /// Threads measured.
    public var threads: Int

    /// The peak: the higher of the two rates.
    public var flops: Double { max(microBenchmark, gemm) }

    /// How the peak was obtained, e.g. "peak 383.1 GFLOP/s: fp32 FMA micro-benchmark, 16 lanes ×
    /// 2 threads (sgemm 2000³ reaches 220.4, 58%)".
    public var description: String {
        let threadsText = "\(threads) thread\(threads == 1 ? "" : "s")"
        let (micro, library) = precision == .fp32
            ? (String(format: "fp32 FMA micro-benchmark, %d lanes", lanes), "sgemm 2000³")
            : ("bf16 dot-product micro-benchmark (vdpbf16ps, 32 products)", "oneDNN bf16 matmul 1024³")
        if microBenchmark >= gemm {
            return String(format: "peak %.1f GFLOP/s: %@ × %@ (%@ reaches %.1f, %.0f%%)", microBenchmark / 1e9, micro,
                          threadsText, library, gemm / 1e9, 100 * gemm / microBenchmark)
        }
        return String(format: "peak %.1f GFLOP/s: %@ on %@ (above the %@'s %.1f)", gemm / 1e9, library, threadsText,
                      micro, microBenchmark / 1e9)
    }

    /// Measures both rates on `threads` threads (about a second).
    public static func measure(threads: Int, precision: Precision = .fp32) -> MachinePeak {
        switch precision {
        case .fp32:
            let fma = fmaRate(threads: threads)
            return MachinePeak(precision: .fp32, microBenchmark: fma.flops, lanes: fma.lanes, gemm: sgemmRate(threads: threads),
                               threads: threads)
        case .bf16:
            let dot = perThread(threads: threads, runs: 6) { _ in trainer_bf16_dot_peak(2_000_000) }
            return MachinePeak(precision: .bf16, microBenchmark: dot, lanes: 32, gemm: bf16GemmRate(threads: threads),
                               threads: threads)
        }
    }

    /// The best rate over `runs` runs of `body(worker)` on every one of `threads` workers at once
    /// (`body` returns the floating-point operations it did); the first run warms up the vector units.
    static func perThread(threads: Int, runs: Int, _ body: (Int) -> Double) -> Double {
        let parallelism = Parallelism(threads: threads)
        var flops = [Double](repeating: 0, count: threads), best = 0.0
        for _ in 0 ..< runs {
            let start = DispatchTime.now().uptimeNanoseconds
            flops.withUnsafeMutableBufferPointer { flops in
                parallelism.forEachPiece(count: threads) { piece, _ in flops[piece] = body(piece) }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = max(best, flops.reduce(0, +) / seconds)
        }
        return best
    }

    /// The fp32 FMA micro-benchmark on `threads` workers at once: the best of five runs of about 10 ms.
    public static func fmaRate(threads: Int) -> (flops: Double, lanes: Int) {
        var lanes = [Int32](repeating: 1, count: threads)
        let flops = lanes.withUnsafeMutableBufferPointer { lanes in
            perThread(threads: threads, runs: 6) { piece in trainer_fma_peak(4_000_000, lanes.baseAddress! + piece) }
        }
        return (flops, Int(lanes[0]))
    }

    /// OpenBLAS's sgemm rate on its own `threads` threads: the best of a 2000³ product with B plain
    /// and transposed, four runs each. (Power-of-two leading dimensions are avoided: OpenBLAS
    /// 0.3.21 runs 1536³ NN about 30% slower than NT.)
    public static func sgemmRate(threads: Int) -> Double {
        let n = 2000
        let a = FloatBuffer(count: n * n), b = FloatBuffer(count: n * n), c = FloatBuffer(count: n * n)
        for i in 0 ..< n * n {
            a[i] = Float(i % 7) * 0.1
            b[i] = Float(i % 5) * 0.1
        }
        BLAS.setLibraryThreads(threads)
        var best = Double.infinity
        for transposeB in [false, true] {
            for _ in 0 ..< 4 {
                let start = DispatchTime.now().uptimeNanoseconds
                BLAS.sgemm(transposeA: false, transposeB: transposeB, m: n, n: n, k: n, alpha: 1, a: a.readPointer, lda: n,
                           b: b.readPointer, ldb: n, beta: 0, c: c.pointer, ldc: n)
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
        }
        BLAS.configureForKernels()
        usleep(300_000)  // let OpenBLAS's worker threads stop spinning before our own threads run
        return 2 * Double(n * n * n) / best
    }

    /// oneDNN's bf16 matmul, one 1024³ product (B transposed, as a Linear layer's forward pass) per
    /// thread at once: the best of four runs.
    public static func bf16GemmRate(threads: Int) -> Double {
        let n = 1024
        let a = UnsafeMutablePointer<UInt16>.allocate(capacity: n * n), b = UnsafeMutablePointer<UInt16>.allocate(capacity: n * n)
        defer { a.deallocate(); b.deallocate() }
        for i in 0 ..< n * n {
            a[i] = UInt16(0x3f80 + i % 7)  // values near 1, bf16
            b[i] = UInt16(0x3e80 + i % 5)
        }
        let c = FloatBuffer(count: threads * n * n)
        let (aPointer, bPointer) = (UnsafePointer(a), UnsafePointer(b))
        return perThread(threads: threads, runs: 4) { piece in
            BF16.gemm(transposeA: false, transposeB: true, m: n, n: n, k: n, a: aPointer, lda: n, b: bPointer, ldb: n,
                      c: c.pointer + piece * n * n, ldc: n, accumulate: false)
            return 2 * Double(n * n * n)
        }
    }
}
