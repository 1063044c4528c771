import CKernels
import Foundation

/// GELU, exact `x·Φ(x)` or the tanh approximation `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
public enum GELU {
    /// Which formula: PyTorch's `approximate="none"` or `approximate="tanh"`.
    public enum Approximation: String, Codable, Sendable, CaseIterable {
        case exact = "none"
        case tanh
    }

    // The passes run in C (`trainer_gelu_forward`/`_backward`, Sources/CKernels/elementwise_body.h),
    // vectorised for the CPU found at run time, with cheaper formulas than the scalar Swift loops
    // they replace (which were compute-bound at 7–18 GB/s): tanh GELU as x·σ(2u) = x/(1 + e^(−2u)),
    // one exponential and one division; exact GELU through a degree-5/5 rational erf, no
    // exponential in the forward pass. Each piece is one contiguous span.

    /// Applies GELU elementwise (in place allowed).
    /// - Complexity: one exponential (tanh) or one rational function (exact) per element; 8 bytes of
    ///   traffic per element.
    public static func forward(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int,
        approximation: Approximation = .tanh, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("GELU forward")
        defer { StepProfile.end(region) }
        let exact: Int32 = approximation == .exact ? 1 : 0
        parallelism.forEachPiece(count: count) { _, range in
            trainer_gelu_forward(output + range.lowerBound, input + range.lowerBound, nil, range.count, exact)
        }
    }

    /// `inputGradient += GELU'(input) · outputGradient`.
    /// - Complexity: one exponential (and a rational function, exact) per element; 16 bytes of
    ///   traffic per element.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
        input: UnsafePointer<Float>, count: Int, approximation: Approximation = .tanh,
        parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("GELU backward")
        defer { StepProfile.end(region) }
        let exact: Int32 = approximation == .exact ? 1 : 0
        parallelism.forEachPiece(count: count) { _, range in
            let start = range.lowerBound
            trainer_gelu_backward(inputGradient + start, nil, outputGradient + start, input + start, nil, range.count, exact)
        }
    }

    /// `output = gelu(input + bias)`, the bias broadcast over rows: a linear layer's bias folded into
    /// its activation, which saves the pass that adds it (in place allowed).
    /// - Complexity: as `forward`; 8 bytes of traffic per element.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (N, C)
        input: UnsafePointer<Float>,  // (N, C), before the bias
        bias: UnsafePointer<Float>,  // (C)
        rows N: Int, channels C: Int, approximation: Approximation = .tanh, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("GELU forward")
        defer { StepProfile.end(region) }
        let exact: Int32 = approximation == .exact ? 1 : 0
        parallelism.forEachPiece(count: N) { _, rows in
            for n in rows { trainer_gelu_forward(output + n * C, input + n * C, bias, C, exact) }
        }
    }

    /// Rows per block of the bias-gradient sum in the bias `backward`. Fixed (not tied to the thread
    /// count), so the partial sums, and therefore the result, are the same for any number of threads.
    static let biasReductionBlock = 64

    /// With `g = GELU'(input + bias) · outputGradient`: `inputGradient += g` (the gradient of the
    /// sum, so of the linear layer's output as well) and `biasGradient += Σ_rows g`, in one pass
    /// instead of this kernel's and the linear layer's bias sum.
    ///
    /// The bias sum is taken in fixed blocks of rows (each summed in row order), then the blocks in
    /// order, as LayerNorm's parameter gradients are: threads take whole blocks, so each streams
    /// whole rows, and the result does not depend on the thread count.
    /// - Complexity: as `backward`; 16 bytes of traffic per element.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>,  // (N, C)
        biasGradient: UnsafeMutablePointer<Float>,  // (C)
        outputGradient: UnsafePointer<Float>,  // (N, C)
        input: UnsafePointer<Float>,  // (N, C), before the bias
        bias: UnsafePointer<Float>,  // (C)
        rows N: Int, channels C: Int, approximation: Approximation = .tanh, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("GELU backward")
        defer { StepProfile.end(region) }
        let exact: Int32 = approximation == .exact ? 1 : 0
        let blocks = (N + biasReductionBlock - 1) / biasReductionBlock
        let partial = alignedAllocate(Float.self, count: blocks * C)  // Σ g over the rows of each block: (blocks, C)
        defer { partial.deallocate() }
        parallelism.forEachPiece(count: blocks) { _, blockRange in
            for block in blockRange {
                let db = partial + block * C
                db.initialize(repeating: 0, count: C)
                let start = block * biasReductionBlock
                for n in start ..< min(N, start + biasReductionBlock) {
                    let row = n * C
                    trainer_gelu_backward(inputGradient + row, db, outputGradient + row, input + row, bias, C, exact)
                }
            }
        }
        for block in 0 ..< blocks {
            let db = partial + block * C
            for i in 0 ..< C { biasGradient[i] += db[i] }
        }
    }

    /// Plain-loop reference for `forward`, libm in double precision (tests only).
    public static func forwardNaive(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int,
        approximation: Approximation = .tanh
    ) {
        for i in 0 ..< count {
            let x = Double(input[i])
            switch approximation {
            case .tanh: output[i] = Float(0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))))
            case .exact: output[i] = Float(0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())))
            }
        }
    }

    /// Plain-loop reference for `backward`, libm in double precision (tests only).
    public static func backwardNaive(
        inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
        input: UnsafePointer<Float>, count: Int, approximation: Approximation = .tanh
    ) {
        for i in 0 ..< count {
            let x = Double(input[i])
            let local: Double
            switch approximation {
            case .tanh:
                let k = 0.7978845608028654
                let t = Foundation.tanh(k * (x + 0.044715 * x * x * x))
                local = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
            case .exact:
                local = 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot())) + x * Foundation.exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
            }
            inputGradient[i] += Float(local * Double(outputGradient[i]))
        }
    }

    /// Plain-loop reference for the bias `forward`: `forwardNaive` of `input + bias`, in double (tests only).
    public static func forwardNaive(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        rows N: Int, channels C: Int, approximation: Approximation = .tanh
    ) {
        for n in 0 ..< N {
            for i in 0 ..< C {
                var x = input[n * C + i] + bias[i]
                forwardNaive(output: output + n * C + i, input: &x, count: 1, approximation: approximation)
            }
        }
    }

    /// Plain-loop reference for the bias `backward` (tests only).
    public static func backwardNaive(
        inputGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>,
        outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        rows N: Int, channels C: Int, approximation: Approximation = .tanh
    ) {
        for n in 0 ..< N {
            for i in 0 ..< C {
                var x = input[n * C + i] + bias[i], g: Float = 0
                backwardNaive(inputGradient: &g, outputGradient: outputGradient + n * C + i, input: &x, count: 1,
                              approximation: approximation)
                inputGradient[n * C + i] += g
                biasGradient[i] += g
            }
        }
    }
}
