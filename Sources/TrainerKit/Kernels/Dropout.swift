/// Inverted dropout: keeps each element with probability 1 − p and scales it by 1/(1 − p).
///
/// The mask is not stored: element `i` is kept when the `i`-th word of a Philox stream named by
/// (seed, step, micro-batch, site) is at least ⌊p·2^32⌋ (`RandomStream`), so forward and backward
/// regenerate the same mask, and any process computing that micro-batch draws the same one.
public enum Dropout {
    /// Whether element `index` of `stream` survives dropout with probability `probability`.
    @inline(__always)
    public static func keeps(_ index: Int, stream: RandomStream, probability: Float) -> Bool {
        stream.word(index) >= threshold(probability)
    }

    /// The smallest 32-bit word that keeps an element.
    @inline(__always)
    static func threshold(_ probability: Float) -> UInt32 {
        UInt32(min(Double(probability) * 4_294_967_296.0, 4_294_967_295.0))
    }

    /// `output = input · mask / (1 − p)` (in place allowed). `p = 0` copies.
    /// - Complexity: one Philox block per 4 elements; 8 bytes of traffic per element.
    public static func forward(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int,
        probability p: Float, stream: RandomStream, parallelism: Parallelism = .serial
    ) {
        if p == 0 {
            if UnsafePointer(output) != input { output.update(from: input, count: count) }
            return
        }
        let scale = 1 / (1 - p)
        apply(count: count, probability: p, stream: stream, parallelism: parallelism) { i, keep in
            output[i] = keep ? input[i] * scale : 0
        }
    }

    /// `inputGradient += outputGradient · mask / (1 − p)`, with the mask of the same stream.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>, count: Int,
        probability p: Float, stream: RandomStream, parallelism: Parallelism = .serial
    ) {
        if p == 0 {
            Residual.accumulate(into: inputGradient, outputGradient, count: count, parallelism: parallelism)
            return
        }
        let scale = 1 / (1 - p)
        apply(count: count, probability: p, stream: stream, parallelism: parallelism) { i, keep in
            inputGradient[i] += keep ? outputGradient[i] * scale : 0
        }
    }

    /// Calls `body(i, keep)` for every element, in pieces of whole Philox blocks.
    @inline(__always)
    static func apply(
        count: Int, probability p: Float, stream: RandomStream, parallelism: Parallelism,
        _ body: (Int, Bool) -> Void
    ) {
        let cut = threshold(p)
        let blocks = (count + 3) / 4
        parallelism.forEachPiece(count: blocks) { _, blockRange in
            for block in blockRange {
                let words = stream.block(UInt32(truncatingIfNeeded: block))
                let base = block * 4
                let n = min(4, count - base)
                body(base, words.0 >= cut)
                if n > 1 { body(base + 1, words.1 >= cut) }
                if n > 2 { body(base + 2, words.2 >= cut) }
                if n > 3 { body(base + 3, words.3 >= cut) }
            }
        }
    }

    /// Plain-loop reference for `forward`, one element at a time through `keeps` (tests only).
    public static func forwardNaive(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int,
        probability p: Float, stream: RandomStream
    ) {
        for i in 0 ..< count {
            output[i] = keeps(i, stream: stream, probability: p) ? input[i] / (1 - p) : 0
        }
    }
}
