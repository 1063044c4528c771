import Foundation

/// Token embedding lookup, optionally scaled (√d_model in "Attention Is All You Need").
public enum Embedding {
    /// `output[n] = table[tokens[n]] · scale`.
    /// - Complexity: N·C reads and writes.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (N, C)
        tokens: UnsafePointer<Int32>,  // (N)
        table: UnsafePointer<Float>,  // (V, C)
        rows N: Int, channels C: Int, scale: Float = 1,
        parallelism: Parallelism = .serial
    ) {
        parallelism.forEachPiece(count: N) { _, rows in
            for n in rows {
                let row = table + Int(tokens[n]) * C, out = output + n * C
                if scale == 1 {
                    out.update(from: row, count: C)
                } else {
                    for i in 0 ..< C { out[i] = row[i] * scale }
                }
            }
        }
    }

    /// Scatter-add `tableGradient[tokens[n]] += outputGradient[n] · scale`.
    ///
    /// Deterministic: the channels are split between threads and each thread walks the rows in
    /// order, so every table entry receives its contributions in the same order on every run.
    /// - Complexity: N·C reads and adds.
    public static func backward(
        tableGradient: UnsafeMutablePointer<Float>,  // (V, C)
        outputGradient: UnsafePointer<Float>,  // (N, C)
        tokens: UnsafePointer<Int32>,  // (N)
        rows N: Int, channels C: Int, scale: Float = 1,
        parallelism: Parallelism = .serial
    ) {
        // Pieces of whole 16-channel groups, so threads never share a cache line of the table.
        let groups = (C + 15) / 16
        parallelism.forEachPiece(count: groups) { _, groupRange in
            let lower = groupRange.lowerBound * 16, upper = min(C, groupRange.upperBound * 16)
            for n in 0 ..< N {
                let dtable = tableGradient + Int(tokens[n]) * C, dout = outputGradient + n * C
                for i in lower ..< upper { dtable[i] += dout[i] * scale }
            }
        }
    }

    /// Plain-loop reference for `forward` (tests only).
    public static func forwardNaive(
        output: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, table: UnsafePointer<Float>,
        rows N: Int, channels C: Int, scale: Float = 1
    ) {
        for n in 0 ..< N {
            for i in 0 ..< C { output[n * C + i] = table[Int(tokens[n]) * C + i] * scale }
        }
    }

    /// Plain-loop reference for `backward` (tests only).
    public static func backwardNaive(
        tableGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
        tokens: UnsafePointer<Int32>, rows N: Int, channels C: Int, scale: Float = 1
    ) {
        for n in 0 ..< N {
            for i in 0 ..< C { tableGradient[Int(tokens[n]) * C + i] += outputGradient[n * C + i] * scale }
        }
    }
}

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
        PositionEmbedding.forward(
            output: output, input: input, table: table, batch: B, time: T, channels: C, parallelism: parallelism)
    }

    /// The table has no parameters: the gradient passes through, `inputGradient += outputGradient`.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>, count: Int,
        parallelism: Parallelism = .serial
    ) {
        Residual.accumulate(into: inputGradient, outputGradient, count: count, parallelism: parallelism)
    }
}
