/// A Transformer block: residual sublayers applied in order, each output kept for backward.
public final class TransformerBlock {
    /// The sublayers in forward order.
    public let sublayers: [ResidualSublayer]
    /// Output of each sublayer, (rows, C); the last is the block's output.
    let streams: [FloatBuffer]

    public init(sublayers: [ResidualSublayer], channels C: Int, limits: ActivationLimits) {
        self.sublayers = sublayers
        streams = sublayers.map { _ in FloatBuffer(count: limits.rows * C) }
    }

    /// The block's output (valid after `forward`), (rows, C).
    public var output: UnsafePointer<Float> { streams[streams.count - 1].readPointer }

    /// Runs every sublayer; the result is in `output`.
    public func forward(input: UnsafePointer<Float>, memory: UnsafePointer<Float>? = nil, context: PassContext) {
        var x = input
        for (sublayer, stream) in zip(sublayers, streams) {
            sublayer.forward(output: stream.pointer, input: x, memory: memory, context: context)
            x = stream.readPointer
        }
    }

    /// One decoding step of every sublayer (`ResidualSublayer.step`); the result is in `output`.
    func step(input: UnsafePointer<Float>, memory: UnsafePointer<Float>?, context: PassContext, cache: DecodingCache,
              layer: Int) {
        var x = input
        for (sublayer, stream) in zip(sublayers, streams) {
            sublayer.step(output: stream.pointer, input: x, memory: memory, context: context, cache: cache, layer: layer)
            x = stream.readPointer
        }
    }

    /// Backward in reverse order. On entry `streamGradient` is d loss / d output, on return
    /// d loss / d input.
    public func backward(streamGradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                         memory: UnsafePointer<Float>? = nil, memoryGradient: UnsafeMutablePointer<Float>? = nil,
                         scratch: BackwardScratch, context: PassContext) {
        for index in sublayers.indices.reversed() {
            let sublayerInput = index == 0 ? input : streams[index - 1].readPointer
            sublayers[index].backward(streamGradient: streamGradient, input: sublayerInput, memory: memory,
                                      memoryGradient: memoryGradient, scratch: scratch, context: context)
        }
    }
}
