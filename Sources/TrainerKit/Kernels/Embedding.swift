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
        let region = StepProfile.begin("embeddings forward")
        defer { StepProfile.end(region) }
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
        let region = StepProfile.begin("embeddings backward")
        defer { StepProfile.end(region) }
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
