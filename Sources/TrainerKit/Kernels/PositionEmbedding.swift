import Foundation

/// Learned position embedding (GPT): `output[b, t] = input[b, t] + table[t]`.
public enum PositionEmbedding {
    /// Adds the position rows; `output` may be `input` (in place).
    /// - Complexity: B·T·C adds.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (B, T, C)
        input: UnsafePointer<Float>,  // (B, T, C)
        table: UnsafePointer<Float>,  // (maxT, C), rows 0..<T used
        batch B: Int, time T: Int, channels C: Int,
        parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("embeddings forward")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: B * T) { _, rows in
            for n in rows {
                let x = input + n * C, y = output + n * C, p = table + (n % T) * C
                for i in 0 ..< C { y[i] = x[i] + p[i] }
            }
        }
    }

    /// `inputGradient += outputGradient` (if given); `tableGradient[t] += Σ_b outputGradient[b, t]`
    /// in batch order, positions split between threads.
    /// - Complexity: 2·B·T·C adds.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>?,  // (B, T, C)
        tableGradient: UnsafeMutablePointer<Float>,  // (maxT, C)
        outputGradient: UnsafePointer<Float>,  // (B, T, C)
        batch B: Int, time T: Int, channels C: Int,
        parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("embeddings backward")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: T) { _, positions in
            for t in positions {
                let dp = tableGradient + t * C
                for b in 0 ..< B {
                    let dy = outputGradient + (b * T + t) * C
                    for i in 0 ..< C { dp[i] += dy[i] }
                    if let inputGradient {
                        let dx = inputGradient + (b * T + t) * C
                        for i in 0 ..< C { dx[i] += dy[i] }
                    }
                }
            }
        }
    }

    /// Plain-loop reference for `forward` (tests only).
    public static func forwardNaive(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, table: UnsafePointer<Float>,
        batch B: Int, time T: Int, channels C: Int
    ) {
        for b in 0 ..< B {
            for t in 0 ..< T {
                for i in 0 ..< C { output[(b * T + t) * C + i] = input[(b * T + t) * C + i] + table[t * C + i] }
            }
        }
    }

    /// Plain-loop reference for `backward` (tests only).
    public static func backwardNaive(
        inputGradient: UnsafeMutablePointer<Float>?, tableGradient: UnsafeMutablePointer<Float>,
        outputGradient: UnsafePointer<Float>, batch B: Int, time T: Int, channels C: Int
    ) {
        for b in 0 ..< B {
            for t in 0 ..< T {
                for i in 0 ..< C {
                    let dy = outputGradient[(b * T + t) * C + i]
                    tableGradient[t * C + i] += dy
                    inputGradient?[(b * T + t) * C + i] += dy
                }
            }
        }
    }
}
