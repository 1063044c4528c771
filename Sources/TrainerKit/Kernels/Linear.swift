/// Fully connected layer `y = x·Wᵀ + b`, W stored `[out, in]` (PyTorch's `nn.Linear` layout).
public enum Linear {
    /// `output = input·weightᵀ + bias`.
    ///
    /// Rows are split into one contiguous piece per thread; each thread writes the bias into its
    /// rows and runs a single-threaded `sgemm` on them while they are warm (measured faster than one
    /// threaded sgemm after a separate bias pass). Every output element is computed by one thread in
    /// the same order whatever the thread count.
    /// - Complexity: 2·N·C·OC floating-point operations.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (N, OC)
        input: UnsafePointer<Float>,  // (N, C)
        weight: UnsafePointer<Float>,  // (OC, C)
        bias: UnsafePointer<Float>?,  // (OC)
        rows N: Int, inputChannels C: Int, outputChannels OC: Int,
        parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("linear forward (fp32 sgemm)")
        defer { StepProfile.end(region) }
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
    /// The input gradient is split by rows. The weight gradient is a sum over rows, so splitting it
    /// by output channel would make every thread pack all of the input (measured 30% slower); each
    /// thread instead multiplies its own rows into a private partial sum, and the partials are
    /// added in thread order: deterministic for a given thread count. The bias gradient sums rows
    /// in order, channels split between threads.
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
        let region = StepProfile.begin("linear backward (fp32 sgemm)")
        defer { StepProfile.end(region) }
        let pieces = min(parallelism.threads, N)
        // partials[piece − 1]: dW of the rows of pieces 1...; piece 0 adds straight into dW. (pieces − 1, OC, C)
        let partials = weightGradient != nil && pieces > 1 ? alignedAllocate(Float.self, count: (pieces - 1) * OC * C) : nil
        defer { partials?.deallocate() }
        parallelism.forEachPiece(count: N) { piece, rows in
            if let inputGradient {
                BLAS.sgemm(
                    transposeA: false, transposeB: false, m: rows.count, n: C, k: OC,
                    alpha: 1, a: outputGradient + rows.lowerBound * OC, lda: OC, b: weight, ldb: C,
                    beta: 1, c: inputGradient + rows.lowerBound * C, ldc: C)
            }
            if let weightGradient {
                let target = piece == 0 ? weightGradient : partials! + (piece - 1) * OC * C
                BLAS.sgemm(
                    transposeA: true, transposeB: false, m: OC, n: C, k: rows.count,
                    alpha: 1, a: outputGradient + rows.lowerBound * OC, lda: OC, b: input + rows.lowerBound * C, ldb: C,
                    beta: piece == 0 ? 1 : 0, c: target, ldc: C)
            }
        }
        finishBackward(weightGradient: weightGradient, partials: partials, pieces: pieces, biasGradient: biasGradient,
                       outputGradient: outputGradient, rows: N, inputChannels: C, outputChannels: OC, parallelism: parallelism)
    }

    /// The end of a backward pass: adds the per-piece weight-gradient partials (pieces 1...) into
    /// `weightGradient` in piece order, and the bias gradient's column sums in row order; channels
    /// split between threads. Shared by the fp32 and bf16 backward passes.
    static func finishBackward(
        weightGradient: UnsafeMutablePointer<Float>?, partials: UnsafeMutablePointer<Float>?, pieces: Int,
        biasGradient: UnsafeMutablePointer<Float>?, outputGradient: UnsafePointer<Float>,
        rows N: Int, inputChannels C: Int, outputChannels OC: Int, parallelism: Parallelism
    ) {
        guard weightGradient != nil || biasGradient != nil else { return }
        parallelism.forEachPiece(count: OC) { _, channels in
            if let weightGradient, let partials {
                for piece in 0 ..< pieces - 1 {
                    let source = partials + piece * OC * C + channels.lowerBound * C
                    let target = weightGradient + channels.lowerBound * C
                    for i in 0 ..< channels.count * C { target[i] += source[i] }
                }
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
