import CKernels
import Foundation

/// Row-wise softmax `y_j = e^(x_j − max) / Σ_k e^(x_k − max)`.
public enum Softmax {
    // Both passes run in C (`trainer_softmax_forward`/`_backward`, Sources/CKernels/elementwise_body.h),
    // vectorised for the CPU found at run time: per row, the maximum, then e^(x − max) written and
    // summed in the same pass, then one scaling pass while the row is in L1; the exponential is a
    // vector polynomial with fused multiply-adds. Row sums use 32 partial sums in a fixed tree.

    /// Softmax of each row of `input` into `output` (in place allowed).
    /// - Complexity: N·D exponentials; 8 bytes of traffic per element.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (N, D)
        input: UnsafePointer<Float>,  // (N, D)
        rows N: Int, columns D: Int, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("softmax forward")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: N) { _, rows in
            let start = rows.lowerBound * D
            trainer_softmax_forward(output + start, input + start, rows.count, D, nil, nil)
        }
    }

    /// `inputGradient += y ⊙ (dy − Σ_j y_j·dy_j)` per row.
    /// - Complexity: 4·N·D operations.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>,  // (N, D)
        outputGradient: UnsafePointer<Float>,  // (N, D)
        output: UnsafePointer<Float>,  // (N, D)
        rows N: Int, columns D: Int, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("softmax backward")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: N) { _, rows in
            let start = rows.lowerBound * D
            trainer_softmax_backward(inputGradient + start, outputGradient + start, output + start, rows.count, D)
        }
    }

    /// Softmax of one row of `count` values; `output` may be `input`. Returns log Σ e^(x − max) + max
    /// (the log-partition, used by cross-entropy).
    @inline(__always) @discardableResult
    static func normalizeRow(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) -> Float {
        var maximum: Float = 0, sum: Float = 0
        trainer_softmax_forward(output, input, 1, count, &maximum, &sum)
        return maximum + Float(Foundation.log(Double(sum)))
    }

    /// Plain-loop reference for `forward`, in double precision with libm's exp (tests only).
    public static func forwardNaive(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows N: Int, columns D: Int
    ) {
        for n in 0 ..< N {
            var maximum = -Double.infinity
            for j in 0 ..< D { maximum = max(maximum, Double(input[n * D + j])) }
            var sum = 0.0
            for j in 0 ..< D { sum += Foundation.exp(Double(input[n * D + j]) - maximum) }
            for j in 0 ..< D { output[n * D + j] = Float(Foundation.exp(Double(input[n * D + j]) - maximum) / sum) }
        }
    }

    /// Plain-loop reference for `backward` (tests only).
    public static func backwardNaive(
        inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
        output: UnsafePointer<Float>, rows N: Int, columns D: Int
    ) {
        for n in 0 ..< N {
            for i in 0 ..< D {
                // Full Jacobian: ∂y_j/∂x_i = y_j(δ_ij − y_i).
                var g = 0.0
                for j in 0 ..< D {
                    let jacobian = Double(output[n * D + j]) * ((i == j ? 1 : 0) - Double(output[n * D + i]))
                    g += jacobian * Double(outputGradient[n * D + j])
                }
                inputGradient[n * D + i] += Float(g)
            }
        }
    }
}
