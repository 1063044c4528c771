import CBF16

/// bfloat16 storage and products, for `precision: bf16`: values are the upper 16 bits of a
/// float32 (8-bit exponent, 8-bit significand), stored as `UInt16`; products take bf16 inputs and
/// accumulate in float32 (oneDNN's matmul, `Sources/CBF16`).
public enum BF16 {
    /// Whether this CPU has native bf16 dot products (AVX512_BF16); oneDNN has no fast bf16
    /// products without them.
    public static var isNative: Bool { trainer_bf16_native() != 0 }

    /// `destination[i] = bf16(source[i])`, rounded to nearest even, in fixed pieces.
    public static func convert(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<UInt16>, count: Int,
                               parallelism: Parallelism) {
        let region = StepProfile.begin("fp32 → bf16 conversion")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: count) { _, range in
            trainer_f32_to_bf16(source + range.lowerBound, destination + range.lowerBound, range.count)
        }
    }

    /// `convert` on the calling thread alone, for the short rows of a kernel's inner loop.
    @inline(__always)
    public static func convertRow(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<UInt16>, count: Int) {
        trainer_f32_to_bf16(source, destination, count)
    }

    /// `destination[i] = Float(source[i])` (exact).
    public static func widen(_ source: UnsafePointer<UInt16>, to destination: UnsafeMutablePointer<Float>, count: Int) {
        trainer_bf16_to_f32(source, destination, count)
    }

    /// `C = op(A)·op(B)` (or `C += op(A)·op(B)` with `accumulate`), row-major, A and B bf16, C float;
    /// `op(A)` is m×k, `op(B)` is k×n. Runs on the calling thread (callers split the work).
    /// - Complexity: 2·m·n·k floating-point operations.
    @inline(__always)
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                            a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
                            c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        guard m > 0, n > 0 else { return }
        let status = trainer_bf16_gemm(transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, a, lda, b, ldb, c, ldc,
                                       accumulate ? 1 : 0)
        precondition(status == 0, "oneDNN bf16 matmul \(m)×\(n)×\(k) failed (status \(status))")
    }

    /// The float32 value of `bits`, and the bf16 nearest to `value` (tests and references).
    public static func float(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
    public static func rounded(_ value: Float) -> Float {
        var source = value, bits: UInt16 = 0
        trainer_f32_to_bf16(&source, &bits, 1)
        return float(bits)
    }
}
