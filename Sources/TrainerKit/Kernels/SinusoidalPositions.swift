import Foundation

/// Fixed sinusoidal positions ("Attention Is All You Need" §3.5):
/// `PE[t, 2i] = sin(t / 10000^(2i/C))`, `PE[t, 2i+1] = cos(t / 10000^(2i/C))`.
public enum SinusoidalPositions {
    /// The (T, C) table, computed in double precision then rounded.
    public static func table(time T: Int, channels C: Int) -> [Float] {
        var table = [Float](repeating: 0, count: T * C)
        for t in 0 ..< T {
            for i in stride(from: 0, to: C, by: 2) {
                let angle = Double(t) / Foundation.pow(10_000, Double(i) / Double(C))
                table[t * C + i] = Float(Foundation.sin(angle))
                if i + 1 < C { table[t * C + i + 1] = Float(Foundation.cos(angle)) }
            }
        }
        return table
    }

    /// `output[b, t] = input[b, t] + table[t]` (in place allowed); the same addition as
    /// `PositionEmbedding.forward` with a fixed table.
    public static func forward(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, table: UnsafePointer<Float>,
        batch B: Int, time T: Int, channels C: Int, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("embeddings forward")
        defer { StepProfile.end(region) }
        PositionEmbedding.forward(
            output: output, input: input, table: table, batch: B, time: T, channels: C, parallelism: parallelism)
    }

    /// The table has no parameters: the gradient passes through, `inputGradient += outputGradient`.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>, count: Int,
        parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("embeddings backward")
        defer { StepProfile.end(region) }
        Residual.accumulate(into: inputGradient, outputGradient, count: count, parallelism: parallelism)
    }
}
