import CKernels

/// Layer normalisation over the last dimension: `y = (x − mean) / √(var + eps) · weight + bias`.
public enum LayerNorm {
    /// Rows per block of the weight/bias gradient reduction. Fixed (not tied to the thread count), so
    /// the partial sums, and therefore the result, are the same for any number of threads.
    static let reductionBlock = 64

    // Both passes run in C (`trainer_layernorm_forward`/`_backward`, Sources/CKernels/elementwise_body.h),
    // vectorised for the CPU found at run time. The Swift loops they replace ran at 6–10 GB/s
    // because each row sum was one serial chain of dependent adds (Swift never reassociates
    // floating point); the C kernels keep 32 partial sums per row, combined in a fixed tree, so the
    // result does not depend on the vector width. Forward: mean, then Σ(x − mean)² (two passes over
    // a row in L1, no cancellation), then one fused multiply-add per output. Backward: one pass for
    // both row sums and both parameter gradients, one for the input gradient.

    /// Normalises each row of `input`; caches each row's mean and 1/σ for the backward pass.
    /// - Complexity: about 8·N·C operations, one read of `input`, one write of `output`.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (N, C)
        mean: UnsafeMutablePointer<Float>,  // (N)
        reciprocalStd: UnsafeMutablePointer<Float>,  // (N)
        input: UnsafePointer<Float>,  // (N, C)
        weight: UnsafePointer<Float>,  // (C)
        bias: UnsafePointer<Float>,  // (C)
        rows N: Int, channels C: Int, epsilon: Float = 1e-5,
        parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("layer norm forward")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: N) { _, rows in
            let n = rows.lowerBound
            trainer_layernorm_forward(output + n * C, mean + n, reciprocalStd + n, input + n * C, weight, bias,
                                      rows.count, C, epsilon)
        }
    }

    /// Accumulates the gradients of `forward` into `inputGradient`, `weightGradient`, `biasGradient`.
    ///
    /// `dx = s·(g − mean(g) − x̂·mean(g·x̂))` with `g = dy·weight`, `x̂ = (x − mean)·s`. The weight and
    /// bias sums over rows are taken in fixed blocks of rows, then the blocks in order.
    /// - Complexity: about 12·N·C operations.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>,  // (N, C)
        weightGradient: UnsafeMutablePointer<Float>,  // (C)
        biasGradient: UnsafeMutablePointer<Float>,  // (C)
        outputGradient: UnsafePointer<Float>,  // (N, C)
        input: UnsafePointer<Float>,  // (N, C)
        weight: UnsafePointer<Float>,  // (C)
        mean: UnsafePointer<Float>,  // (N)
        reciprocalStd: UnsafePointer<Float>,  // (N)
        rows N: Int, channels C: Int,
        parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("layer norm backward")
        defer { StepProfile.end(region) }
        let blocks = (N + reductionBlock - 1) / reductionBlock
        // partial[block] = (Σ dy·x̂, Σ dy) over the rows of the block: (blocks, 2, C)
        let partial = alignedAllocate(Float.self, count: blocks * 2 * C)
        defer { partial.deallocate() }
        parallelism.forEachPiece(count: blocks) { _, blockRange in
            for block in blockRange {
                let dw = partial + block * 2 * C, db = dw + C
                dw.initialize(repeating: 0, count: 2 * C)
                let start = block * reductionBlock, rows = min(N, start + reductionBlock) - start
                trainer_layernorm_backward(inputGradient + start * C, dw, db, outputGradient + start * C, input + start * C,
                                           weight, mean + start, reciprocalStd + start, rows, C)
            }
        }
        for block in 0 ..< blocks {
            let dw = partial + block * 2 * C, db = dw + C
            for i in 0 ..< C {
                weightGradient[i] += dw[i]
                biasGradient[i] += db[i]
            }
        }
    }

    /// Plain-loop reference for `forward`, in double precision (tests only).
    public static func forwardNaive(
        output: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
        reciprocalStd: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows N: Int, channels C: Int,
        epsilon: Float = 1e-5
    ) {
        for n in 0 ..< N {
            var m = 0.0
            for i in 0 ..< C { m += Double(input[n * C + i]) }
            m /= Double(C)
            var v = 0.0
            for i in 0 ..< C { v += (Double(input[n * C + i]) - m) * (Double(input[n * C + i]) - m) }
            v /= Double(C)
            let s = 1 / (v + Double(epsilon)).squareRoot()
            for i in 0 ..< C {
                output[n * C + i] = Float((Double(input[n * C + i]) - m) * s * Double(weight[i]) + Double(bias[i]))
            }
            mean[n] = Float(m)
            reciprocalStd[n] = Float(s)
        }
    }

    /// Plain-loop reference for `backward`, in double precision (tests only).
    public static func backwardNaive(
        inputGradient: UnsafeMutablePointer<Float>, weightGradient: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, mean: UnsafePointer<Float>,
        reciprocalStd: UnsafePointer<Float>, rows N: Int, channels C: Int
    ) {
        for n in 0 ..< N {
            let m = Double(mean[n]), s = Double(reciprocalStd[n])
            var meanG = 0.0, meanGX = 0.0
            for i in 0 ..< C {
                let xhat = (Double(input[n * C + i]) - m) * s
                let g = Double(outputGradient[n * C + i]) * Double(weight[i])
                meanG += g / Double(C)
                meanGX += g * xhat / Double(C)
                weightGradient[i] += Float(Double(outputGradient[n * C + i]) * xhat)
                biasGradient[i] += outputGradient[n * C + i]
            }
            for i in 0 ..< C {
                let xhat = (Double(input[n * C + i]) - m) * s
                let g = Double(outputGradient[n * C + i]) * Double(weight[i])
                inputGradient[n * C + i] += Float(s * (g - meanG - xhat * meanGX))
            }
        }
    }
}
