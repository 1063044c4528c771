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
        let exact: Int32 = approximation == .exact ? 1 : 0
        parallelism.forEachPiece(count: count) { _, range in
            let start = range.lowerBound
            trainer_gelu_backward(inputGradient + start, nil, outputGradient + start, input + start, nil, range.count, exact)
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
}
