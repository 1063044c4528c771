/// `Linear` with bf16 inputs and fp32 accumulation (`precision: bf16`): the same products, split
/// the same way (rows per thread; per-thread weight-gradient partials added in thread order), on
/// oneDNN's bf16 matmul instead of OpenBLAS's sgemm. The bias and its gradient stay fp32.
public enum LinearBF16 {
    /// `output = input·weightᵀ + bias`, input and weight in bf16.
    /// - Complexity: 2·N·C·OC floating-point operations.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (N, OC)
        input: UnsafePointer<UInt16>,  // (N, C) bf16
        weight: UnsafePointer<UInt16>,  // (OC, C) bf16
        bias: UnsafePointer<Float>?,  // (OC)
        rows N: Int, inputChannels C: Int, outputChannels OC: Int,
        parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("linear forward (bf16 oneDNN)")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: N) { _, rows in
            let out = output + rows.lowerBound * OC
            if let bias {
                for r in 0 ..< rows.count { (out + r * OC).update(from: bias, count: OC) }
            }
            BF16.gemm(transposeA: false, transposeB: true, m: rows.count, n: OC, k: C,
                      a: input + rows.lowerBound * C, lda: C, b: weight, ldb: C, c: out, ldc: OC, accumulate: bias != nil)
        }
    }

    /// Accumulates `inputGradient += dY·W`, `weightGradient += dYᵀ·input` (both with `dY` and the
    /// operands in bf16) and `biasGradient += Σ_rows dY` (from the fp32 `outputGradient`).
    /// - Complexity: 4·N·C·OC floating-point operations.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>?,  // (N, C)
        weightGradient: UnsafeMutablePointer<Float>?,  // (OC, C)
        biasGradient: UnsafeMutablePointer<Float>?,  // (OC)
        outputGradient: UnsafePointer<Float>,  // (N, OC) fp32, for the bias gradient
        outputGradientBF16: UnsafePointer<UInt16>,  // (N, OC) the same in bf16
        input: UnsafePointer<UInt16>,  // (N, C) bf16
        weight: UnsafePointer<UInt16>,  // (OC, C) bf16
        rows N: Int, inputChannels C: Int, outputChannels OC: Int,
        parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("linear backward (bf16 oneDNN)")
        defer { StepProfile.end(region) }
        let pieces = min(parallelism.threads, N)
        let partials = weightGradient != nil && pieces > 1 ? alignedAllocate(Float.self, count: (pieces - 1) * OC * C) : nil
        defer { partials?.deallocate() }
        parallelism.forEachPiece(count: N) { piece, rows in
            if let inputGradient {
                BF16.gemm(transposeA: false, transposeB: false, m: rows.count, n: C, k: OC,
                          a: outputGradientBF16 + rows.lowerBound * OC, lda: OC, b: weight, ldb: C,
                          c: inputGradient + rows.lowerBound * C, ldc: C, accumulate: true)
            }
            if let weightGradient {
                let target = piece == 0 ? weightGradient : partials! + (piece - 1) * OC * C
                BF16.gemm(transposeA: true, transposeB: false, m: OC, n: C, k: rows.count,
                          a: outputGradientBF16 + rows.lowerBound * OC, lda: OC, b: input + rows.lowerBound * C, ldb: C,
                          c: target, ldc: C, accumulate: piece == 0)
            }
        }
        Linear.finishBackward(weightGradient: weightGradient, partials: partials, pieces: pieces, biasGradient: biasGradient,
                              outputGradient: outputGradient, rows: N, inputChannels: C, outputChannels: OC,
                              parallelism: parallelism)
    }
}
