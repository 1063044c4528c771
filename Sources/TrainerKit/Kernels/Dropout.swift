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
        withMultipliers(count: count, probability: p, stream: stream, parallelism: parallelism) { start, multipliers, n in
            for i in 0 ..< n { output[start + i] = input[start + i] * multipliers[i] }
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
        withMultipliers(count: count, probability: p, stream: stream, parallelism: parallelism) { start, multipliers, n in
            for i in 0 ..< n { inputGradient[start + i] += outputGradient[start + i] * multipliers[i] }
        }
    }

    /// Writes the multipliers of elements `start ..< start + count` of `stream` into `multipliers`:
    /// 1/(1 − p) where the element is kept, 0 where it is dropped (the same mask as `forward`).
    @inline(__always)
    public static func fillMultipliers(
        _ multipliers: UnsafeMutablePointer<Float>, start: Int, count: Int, probability p: Float, stream: RandomStream
    ) {
        let cut = threshold(p), scale = 1 / (1 - p)
        var i = 0
        // Up to the first whole Philox block, one word at a time.
        while i < count && (start + i) % 4 != 0 {
            multipliers[i] = stream.word(start + i) >= cut ? scale : 0
            i += 1
        }
        // Whole blocks: a counted loop, which the compiler vectorises across blocks.
        let firstBlock = UInt32(truncatingIfNeeded: (start + i) / 4), blocks = (count - i) / 4
        let m = multipliers + i
        for block in 0 ..< blocks {
            let words = stream.block(firstBlock &+ UInt32(truncatingIfNeeded: block))
            m[4 * block] = words.0 >= cut ? scale : 0
            m[4 * block + 1] = words.1 >= cut ? scale : 0
            m[4 * block + 2] = words.2 >= cut ? scale : 0
            m[4 * block + 3] = words.3 >= cut ? scale : 0
        }
        i += 4 * blocks
        while i < count {
            multipliers[i] = stream.word(start + i) >= cut ? scale : 0
            i += 1
        }
    }

    /// Elements per chunk of generated multipliers (a multiple of 4, the Philox block).
    static let chunk = 256

    /// Calls `body(start, multipliers, n)` for consecutive chunks of at most `chunk` elements, where
    /// `multipliers[i]` is 1/(1 − p) if element `start + i` is kept and 0 if dropped. Generating a
    /// chunk of Philox blocks in one loop, then applying it in another, lets both vectorise.
    @inline(__always)
    static func withMultipliers(
        count: Int, probability p: Float, stream: RandomStream, parallelism: Parallelism,
        _ body: (Int, UnsafePointer<Float>, Int) -> Void
    ) {
        let chunks = (count + chunk - 1) / chunk
        parallelism.forEachPiece(count: chunks) { _, chunkRange in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { multipliers in
                let m = multipliers.baseAddress!
                for c in chunkRange {
                    let start = c * chunk, n = min(chunk, count - start)
                    fillMultipliers(m, start: start, count: n, probability: p, stream: stream)
                    body(start, UnsafePointer(m), n)
                }
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
