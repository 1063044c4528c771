import Foundation

/// GELU, exact `x·Φ(x)` or the tanh approximation `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
public enum GELU {
    /// Which formula: PyTorch's `approximate="none"` or `approximate="tanh"`.
    public enum Approximation: String, Codable, Sendable, CaseIterable {
        case exact = "none"
        case tanh
    }

    static let sqrt2OverPi: Float = 0.797_884_560_802_865_4
    static let inverseSqrt2: Float = 0.707_106_781_186_547_5
    static let inverseSqrt2Pi: Float = 0.398_942_280_401_432_7

    /// Applies GELU elementwise (in place allowed).
    /// - Complexity: one tanh or erf per element; 8 bytes of traffic per element.
    public static func forward(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int,
        approximation: Approximation = .tanh, parallelism: Parallelism = .serial
    ) {
        parallelism.forEachPiece(count: count) { _, range in
            switch approximation {
            case .tanh:
                for i in range {
                    let x = input[i]
                    output[i] = 0.5 * x * (1 + FastMath.tanh(sqrt2OverPi * (x + 0.044715 * x * x * x)))
                }
            case .exact:
                for i in range {
                    let x = input[i]
                    output[i] = 0.5 * x * (1 + FastMath.erf(x * inverseSqrt2))
                }
            }
        }
    }

    /// `inputGradient += GELU'(input) · outputGradient`.
    /// - Complexity: one tanh or erf and one exp per element; 12 bytes of traffic per element.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
        input: UnsafePointer<Float>, count: Int, approximation: Approximation = .tanh,
        parallelism: Parallelism = .serial
    ) {
        parallelism.forEachPiece(count: count) { _, range in
            switch approximation {
            case .tanh:
                for i in range {
                    let x = input[i]
                    let u = sqrt2OverPi * (x + 0.044715 * x * x * x)
                    let t = FastMath.tanh(u)
                    let du = sqrt2OverPi * (1 + 3 * 0.044715 * x * x)
                    let local = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
                    inputGradient[i] += local * outputGradient[i]
                }
            case .exact:
                for i in range {
                    let x = input[i]
                    let cdf = 0.5 * (1 + FastMath.erf(x * inverseSqrt2))
                    let pdf = inverseSqrt2Pi * FastMath.exp(-0.5 * x * x)
                    inputGradient[i] += (cdf + x * pdf) * outputGradient[i]
                }
            }
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
