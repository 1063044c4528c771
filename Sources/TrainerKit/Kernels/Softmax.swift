import Foundation

/// Row-wise softmax `y_j = e^(x_j − max) / Σ_k e^(x_k − max)`.
public enum Softmax {
    /// Softmax of each row of `input` into `output` (in place allowed).
    /// - Complexity: N·D exponentials; 8 bytes of traffic per element.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (N, D)
        input: UnsafePointer<Float>,  // (N, D)
        rows N: Int, columns D: Int, parallelism: Parallelism = .serial
    ) {
        parallelism.forEachPiece(count: N) { _, rows in
            for n in rows { normalizeRow(output: output + n * D, input: input + n * D, count: D) }
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
        parallelism.forEachPiece(count: N) { _, rows in
            for n in rows {
                let y = output + n * D, dy = outputGradient + n * D, dx = inputGradient + n * D
                let dot = Reductions.dot(y, dy, D)
                for j in 0 ..< D { dx[j] += y[j] * (dy[j] - dot) }
            }
        }
    }

    /// Softmax of one row of `count` values; `output` may be `input`. Returns log Σ e^(x − max) + max
    /// (the log-partition, used by cross-entropy).
    @inline(__always) @discardableResult
    static func normalizeRow(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) -> Float {
        let maximum = Reductions.maximum(input, count)
        // Exponentials in one loop (vectorised), their sum in a fixed-order reduction.
        for j in 0 ..< count { output[j] = FastMath.exp(input[j] - maximum) }
        let sum = Reductions.sum(output, count)
        let inverse = 1 / sum
        for j in 0 ..< count { output[j] *= inverse }
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
