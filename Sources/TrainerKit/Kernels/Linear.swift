/// Fully connected layer `y = x·Wᵀ + b`, W stored `[out, in]` (PyTorch's `nn.Linear` layout).
public enum Linear {
    /// `output = input·weightᵀ + bias`.
    ///
    /// Rows are split into one contiguous piece per thread, each a single-threaded `sgemm`, so every
    /// output element is computed by one thread in the same order whatever the thread count.
    /// - Complexity: 2·N·C·OC floating-point operations.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (N, OC)
        input: UnsafePointer<Float>,  // (N, C)
        weight: UnsafePointer<Float>,  // (OC, C)
        bias: UnsafePointer<Float>?,  // (OC)
        rows N: Int, inputChannels C: Int, outputChannels OC: Int,
        parallelism: Parallelism = .serial
    ) {
        parallelism.forEachPiece(count: N) { _, rows in
            let out = output + rows.lowerBound * OC
            if let bias {
                for r in 0 ..< rows.count { (out + r * OC).update(from: bias, count: OC) }
            }
            BLAS.sgemm(
                transposeA: false, transposeB: true, m: rows.count, n: OC, k: C,
                alpha: 1, a: input + rows.lowerBound * C, lda: C, b: weight, ldb: C,
                beta: bias == nil ? 0 : 1, c: out, ldc: OC)
        }
    }

    /// Accumulates `inputGradient += outputGradient·W`, `weightGradient += outputGradientᵀ·input`,
    /// `biasGradient += Σ_rows outputGradient`. Pass nil for a gradient that is not needed.
    ///
    /// The input gradient is split by rows, the weight and bias gradients by output channel, so no
    /// two threads ever add into the same element.
    /// - Complexity: 4·N·C·OC floating-point operations (2 for each of the two products).
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>?,  // (N, C)
        weightGradient: UnsafeMutablePointer<Float>?,  // (OC, C)
        biasGradient: UnsafeMutablePointer<Float>?,  // (OC)
        outputGradient: UnsafePointer<Float>,  // (N, OC)
        input: UnsafePointer<Float>,  // (N, C)
        weight: UnsafePointer<Float>,  // (OC, C)
        rows N: Int, inputChannels C: Int, outputChannels OC: Int,
        parallelism: Parallelism = .serial
    ) {
        if let inputGradient {
            parallelism.forEachPiece(count: N) { _, rows in
                BLAS.sgemm(
                    transposeA: false, transposeB: false, m: rows.count, n: C, k: OC,
                    alpha: 1, a: outputGradient + rows.lowerBound * OC, lda: OC, b: weight, ldb: C,
                    beta: 1, c: inputGradient + rows.lowerBound * C, ldc: C)
            }
        }
        guard weightGradient != nil || biasGradient != nil else { return }
        parallelism.forEachPiece(count: OC) { _, channels in
            if let weightGradient {
                BLAS.sgemm(
                    transposeA: true, transposeB: false, m: channels.count, n: C, k: N,
                    alpha: 1, a: outputGradient + channels.lowerBound, lda: OC, b: input, ldb: C,
                    beta: 1, c: weightGradient + channels.lowerBound * C, ldc: C)
            }
            if let biasGradient {
                // Column sums in row order: a fixed order, vectorised across channels.
                let db = biasGradient + channels.lowerBound
                for n in 0 ..< N {
                    let dy = outputGradient + n * OC + channels.lowerBound
                    for o in 0 ..< channels.count { db[o] += dy[o] }
                }
            }
        }
    }

    /// Plain-loop reference for `forward` (tests only).
    public static func forwardNaive(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, rows N: Int, inputChannels C: Int, outputChannels OC: Int
    ) {
        for n in 0 ..< N {
            for o in 0 ..< OC {
                var sum: Float = bias?[o] ?? 0
                for i in 0 ..< C { sum += input[n * C + i] * weight[o * C + i] }
                output[n * OC + o] = sum
            }
        }
    }

    /// Plain-loop reference for `backward` (tests only).
    public static func backwardNaive(
        inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>?,
        biasGradient: UnsafeMutablePointer<Float>?, outputGradient: UnsafePointer<Float>,
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows N: Int, inputChannels C: Int, outputChannels OC: Int
    ) {
        for n in 0 ..< N {
            for o in 0 ..< OC {
                let dy = outputGradient[n * OC + o]
                biasGradient?[o] += dy
                for i in 0 ..< C {
                    inputGradient?[n * C + i] += dy * weight[o * C + i]
                    weightGradient?[o * C + i] += dy * input[n * C + i]
                }
            }
        }
    }
}
