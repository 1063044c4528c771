import CKernels

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

    // The passes run in C (`trainer_dropout_*`, Sources/CKernels/dropout.c): Philox is computed for
    // 32 blocks at a time in vector registers (AVX-512 or AVX2, chosen at run time) and applied in
    // the same loop, instead of one block at a time in Swift (about 17 cycles a block, which held
    // dropout to 7–10 GB/s). The words are Philox.block's exactly, so the masks are unchanged bit
    // for bit; kept values are still input·(1/(1 − p)).

    /// The C kernels' description of the mask of `stream` at probability `p`.
    static func mask(probability p: Float, stream: RandomStream) -> trainer_dropout_mask {
        trainer_dropout_mask(key: stream.key, stream: (stream.stream.0, stream.stream.1, stream.stream.2),
                             threshold: threshold(p), scale: 1 / (1 - p))
    }

    /// `output = input · mask / (1 − p)` (in place allowed). `p = 0` copies.
    /// - Complexity: one Philox block per 4 elements; 8 bytes of traffic per element.
    public static func forward(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int,
        probability p: Float, stream: RandomStream, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("dropout forward")
        defer { StepProfile.end(region) }
        if p == 0 {
            if UnsafePointer(output) != input { output.update(from: input, count: count) }
            return
        }
        withUnsafePointer(to: mask(probability: p, stream: stream)) { mask in
            parallelism.forEachPiece(count: count) { _, range in
                let start = range.lowerBound
                trainer_dropout_forward(output + start, input + start, nil, start, range.count, mask)
            }
        }
    }

    /// `inputGradient += outputGradient · mask / (1 − p)`, with the mask of the same stream.
    /// - Complexity: one Philox block per 4 elements; 12 bytes of traffic per element.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>, count: Int,
        probability p: Float, stream: RandomStream, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("dropout backward")
        defer { StepProfile.end(region) }
        if p == 0 {
            Residual.accumulate(into: inputGradient, outputGradient, count: count, parallelism: parallelism)
            return
        }
        withUnsafePointer(to: mask(probability: p, stream: stream)) { mask in
            parallelism.forEachPiece(count: count) { _, range in
                let start = range.lowerBound
                trainer_dropout_backward(inputGradient + start, nil, outputGradient + start, start, range.count, mask)
            }
        }
    }

    /// Dropout and a residual connection in one pass: `output = residual + input · mask / (1 − p)`,
    /// which spares writing the dropped-out input and reading it back (`output` may be `residual`
    /// or `input`). `p = 0` is `Residual.forward`. The sum is rounded as in the two kernels run one
    /// after the other, so the result is bit-identical to them.
    /// - Complexity: one Philox block per 4 elements; 12 bytes of traffic per element.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (count)
        residual: UnsafePointer<Float>,  // (count)
        input: UnsafePointer<Float>,  // (count)
        count: Int, probability p: Float, stream: RandomStream, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("dropout + residual forward")
        defer { StepProfile.end(region) }
        if p == 0 {
            Residual.forward(output: output, residual, input, count: count, parallelism: parallelism)
            return
        }
        withUnsafePointer(to: mask(probability: p, stream: stream)) { mask in
            parallelism.forEachPiece(count: count) { _, range in
                let start = range.lowerBound
                trainer_dropout_forward(output + start, input + start, residual + start, start, range.count, mask)
            }
        }
    }

    /// The gradients of the dropout-and-residual `forward`: `inputGradient += outputGradient · mask
    /// / (1 − p)` and, unless nil, `residualGradient += outputGradient` (a residual stream that shares
    /// its gradient buffer with the output passes nil).
    /// - Complexity: one Philox block per 4 elements; 20 bytes of traffic per element (12 without
    ///   `residualGradient`).
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>,  // (count)
        residualGradient: UnsafeMutablePointer<Float>?,  // (count)
        outputGradient: UnsafePointer<Float>,  // (count)
        count: Int, probability p: Float, stream: RandomStream, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("dropout + residual backward")
        defer { StepProfile.end(region) }
        if p == 0 {
            Residual.accumulate(into: inputGradient, outputGradient, count: count, parallelism: parallelism)
            if let residualGradient {
                Residual.accumulate(into: residualGradient, outputGradient, count: count, parallelism: parallelism)
            }
            return
        }
        withUnsafePointer(to: mask(probability: p, stream: stream)) { mask in
            parallelism.forEachPiece(count: count) { _, range in
                let start = range.lowerBound
                trainer_dropout_backward(inputGradient + start, residualGradient.map { $0 + start }, outputGradient + start,
                                         start, range.count, mask)
            }
        }
    }

    /// Writes the multipliers of elements `start ..< start + count` of `stream` into `multipliers`:
    /// 1/(1 − p) where the element is kept, 0 where it is dropped (the same mask as `forward`).
    @inline(__always)
    public static func fillMultipliers(
        _ multipliers: UnsafeMutablePointer<Float>, start: Int, count: Int, probability p: Float, stream: RandomStream
    ) {
        withUnsafePointer(to: mask(probability: p, stream: stream)) { trainer_dropout_multipliers(multipliers, start, count, $0) }
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

    /// Plain-loop reference for `backward` (tests only).
    public static func backwardNaive(
        inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>, count: Int,
        probability p: Float, stream: RandomStream
    ) {
        for i in 0 ..< count where keeps(i, stream: stream, probability: p) {
            inputGradient[i] += outputGradient[i] / (1 - p)
        }
    }

    /// Plain-loop reference for the dropout-and-residual `forward` (tests only).
    public static func forwardNaive(
        output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>, input: UnsafePointer<Float>, count: Int,
        probability p: Float, stream: RandomStream
    ) {
        for i in 0 ..< count {
            output[i] = residual[i] + (keeps(i, stream: stream, probability: p) ? input[i] / (1 - p) : 0)
        }
    }

    /// Plain-loop reference for the dropout-and-residual `backward` (tests only).
    public static func backwardNaive(
        inputGradient: UnsafeMutablePointer<Float>, residualGradient: UnsafeMutablePointer<Float>?,
        outputGradient: UnsafePointer<Float>, count: Int, probability p: Float, stream: RandomStream
    ) {
        for i in 0 ..< count {
            if keeps(i, stream: stream, probability: p) { inputGradient[i] += outputGradient[i] / (1 - p) }
            residualGradient?[i] += outputGradient[i]
        }
    }
}
