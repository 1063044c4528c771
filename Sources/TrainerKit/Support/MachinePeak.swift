import CKernels
import Foundation

/// The fp32 rate this rank's threads could reach at best: the denominator of MFU.
///
/// Two measurements, the higher wins: a fused multiply-add micro-benchmark (`trainer_fma_peak`:
/// the widest vectors the CPU has, every FMA pipe busy, on all threads at once), and OpenBLAS's
/// sgemm on a 2000³ product. The micro-benchmark is the honest ceiling: dividing by sgemm alone
/// would read "85%" for a step whose BLAS runs a kernel half as fast as the CPU allows.
public struct MachinePeak: Sendable {
    /// FLOP/s of the FMA micro-benchmark, all threads together.
    public var fma: Double
    /// Vector lanes the micro-benchmark used: 16 (AVX-512), 8 (AVX2), 4 (SSE), 1 (other CPUs).
    public var lanes: Int
    /// FLOP/s of OpenBLAS's sgemm (2000³, B plain and transposed, best of four each) on the threads.
    public var sgemm: Double
    /// Threads measured.
    public var threads: Int

    /// The peak: the higher of the two rates.
    public var flops: Double { max(fma, sgemm) }

    /// How the peak was obtained, e.g. "peak 383.1 GFLOP/s: fp32 FMA micro-benchmark, 16 lanes ×
    /// 2 threads (sgemm 2000³ reaches 220.4, 58%)".
    public var description: String {
        let threadsText = "\(threads) thread\(threads == 1 ? "" : "s")"
        if fma >= sgemm {
            return String(format: "peak %.1f GFLOP/s: fp32 FMA micro-benchmark, %d lanes × %@ (sgemm 2000³ reaches %.1f, %.0f%%)",
                          fma / 1e9, lanes, threadsText, sgemm / 1e9, 100 * sgemm / fma)
        }
        return String(format: "peak %.1f GFLOP/s: sgemm 2000³ on %@ (above the FMA micro-benchmark's %.1f)",
                      sgemm / 1e9, threadsText, fma / 1e9)
    }

    /// Measures both rates on `threads` threads (about a second, most of it the sgemm).
    public static func measure(threads: Int) -> MachinePeak {
        let fma = fmaRate(threads: threads)
        return MachinePeak(fma: fma.flops, lanes: fma.lanes, sgemm: sgemmRate(threads: threads), threads: threads)
    }

    /// The FMA micro-benchmark on `threads` workers at once: the best of five runs of about 10 ms.
    public static func fmaRate(threads: Int) -> (flops: Double, lanes: Int) {
        let parallelism = Parallelism(threads: threads), iterations = 4_000_000
        var flops = [Double](repeating: 0, count: threads), lanes = [Int32](repeating: 1, count: threads)
        var best = 0.0
        for _ in 0 ..< 6 {  // the first run warms up the vector units (and their clock)
            let start = DispatchTime.now().uptimeNanoseconds
            flops.withUnsafeMutableBufferPointer { flops in
                lanes.withUnsafeMutableBufferPointer { lanes in
                    parallelism.forEachPiece(count: threads) { piece, _ in
                        flops[piece] = trainer_fma_peak(iterations, lanes.baseAddress! + piece)
                    }
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = max(best, flops.reduce(0, +) / seconds)
        }
        return (best, Int(lanes[0]))
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
}
