import Foundation

/// Sizes and options of the encoder–decoder Transformer ("Attention Is All You Need", with the
/// seed course's pre-norm residuals and final norms).
public struct Seq2SeqShape: Sendable, Equatable {
    public var sourceVocabulary: Int
    public var targetVocabulary: Int
    /// Longest sequence on either side, [SOS]/[EOS] included (sinusoidal positions).
    public var positions: Int
    public var channels: Int
    public var heads: Int
    /// Encoder layers, and decoder layers.
    public var layers: Int
    public var feedForward: Int
    public var activation: FeedForwardSublayerSpec.Activation
    public var dropout: Float
    public var epsilon: Float
    public var labelSmoothing: Float

    public init(sourceVocabulary: Int, targetVocabulary: Int, positions: Int, channels: Int, heads: Int, layers: Int,
                feedForward: Int, activation: FeedForwardSublayerSpec.Activation, dropout: Float, epsilon: Float = 1e-5,
                labelSmoothing: Float = 0) {
        self.sourceVocabulary = sourceVocabulary
        self.targetVocabulary = targetVocabulary
        self.positions = positions
        self.channels = channels
        self.heads = heads
        self.layers = layers
        self.feedForward = feedForward
        self.activation = activation
        self.dropout = dropout
        self.epsilon = epsilon
        self.labelSmoothing = labelSmoothing
    }

    /// The shape a run config describes, for the given vocabularies.
    public init(config: RunConfig, sourceVocabulary: Int, targetVocabulary: Int) throws {
        let m = config.model
        guard let activation = FeedForwardSublayerSpec.Activation(rawValue: m.activation) else {
            throw TrainerError("config: model.activation '\(m.activation)' is not one of relu, gelu, gelu_tanh")
        }
        self.init(sourceVocabulary: sourceVocabulary, targetVocabulary: targetVocabulary, positions: config.resolvedPositions,
                  channels: m.channels, heads: m.heads, layers: m.layers, feedForward: m.resolvedFeedForward,
                  activation: activation, dropout: Float(m.dropout), epsilon: Float(m.normEpsilon),
                  labelSmoothing: Float(m.labelSmoothing))
    }

    func encoderSpecs(_ l: Int) -> (AttentionSublayerSpec, FeedForwardSublayerSpec) {
        let prefix = "encoder/blocks/\(l)"
        return (AttentionSublayerSpec(prefix: prefix, norm: "norm1", attention: "attention", kind: .bidirectional),
                FeedForwardSublayerSpec(prefix: prefix, norm: "norm2", activation: activation))
    }

    func decoderSpecs(_ l: Int) -> (AttentionSublayerSpec, AttentionSublayerSpec, FeedForwardSublayerSpec) {
        let prefix = "decoder/blocks/\(l)"
        return (AttentionSublayerSpec(prefix: prefix, norm: "norm1", attention: "self_attention", kind: .causal),
                AttentionSublayerSpec(prefix: prefix, norm: "norm2", attention: "cross_attention", kind: .cross),
                FeedForwardSublayerSpec(prefix: prefix, norm: "norm3", activation: activation))
    }

    /// Parameter names, shapes and layout. The order is the order in which the backward pass
    /// finishes tensors, reversed: embeddings, encoder, decoder, projection.
    public func layout() -> ParameterLayout {
        var layout = ParameterLayout()
        layout.add("source_embedding/weight", shape: [sourceVocabulary, channels], decays: true)
        layout.add("target_embedding/weight", shape: [targetVocabulary, channels], decays: true)
        for l in 0 ..< layers {
            let (attention, feedForward) = encoderSpecs(l)
            attention.declare(in: &layout, channels: channels)
            feedForward.declare(in: &layout, channels: channels, hidden: self.feedForward)
        }
        layout.addLayerNorm("encoder/final_norm", channels: channels)
        for l in 0 ..< layers {
            let (selfAttention, crossAttention, feedForward) = decoderSpecs(l)
            selfAttention.declare(in: &layout, channels: channels)
            crossAttention.declare(in: &layout, channels: channels)
            feedForward.declare(in: &layout, channels: channels, hidden: self.feedForward)
        }
        layout.addLayerNorm("decoder/final_norm", channels: channels)
        layout.addLinear("projection", inputs: channels, outputs: targetVocabulary)
        return layout
    }

    /// Model FLOPs (forward + backward) of a micro-batch: 6 per parameter per token on its side
    /// (encoder weights see source tokens, decoder weights and the projection target tokens; cross
    /// key/value projections see source tokens once per decoder layer) plus attention.
    public func flops(sourceTokens S: Double, targetTokens T: Double, sourceLength: Double, targetLength: Double) -> Double {
        let C = Double(channels), F = Double(feedForward), L = Double(layers)
        let encoderLayer = 4 * C * C + 2 * C * F
        let decoderLayer = 4 * C * C + 2 * C * C + 2 * C * F  // self q,k,v,o + cross q,o + FF
        let crossKeyValue = 2 * C * C
        var total = 6 * (L * encoderLayer * S + L * (decoderLayer * T + crossKeyValue * S) + C * Double(targetVocabulary) * T)
        // Attention products: 12·width·(keys) per token per layer (PaLM's count).
        total += 12 * L * C * (S * sourceLength + T * targetLength / 2 + T * sourceLength)
        return total
    }
}

/// The encoder–decoder over a `ParameterStore`: source and target embeddings scaled by √d_model,
/// sinusoidal positions, dropout, N encoder blocks (self-attention, feed-forward) and N decoder
/// blocks (causal self-attention, cross-attention over the encoder output, feed-forward), final
/// norms on both sides, and a projection to the target vocabulary. Padding is masked everywhere:
/// padded keys are hidden, padded queries give zero rows, padded targets are ignored by the loss.
public final class Seq2SeqModel {
    public let shape: Seq2SeqShape
    public let parameters: ParameterStore
    /// Batch, longest target (time) and longest source (memoryTime) this instance can hold.
    public let limits: ActivationLimits
    let encoder: [TransformerBlock]
    let decoder: [TransformerBlock]
    let encoderNorm: LayerNormLayer, decoderNorm: LayerNormLayer
    let projection: LinearLayer
    let scratch: BackwardScratch
    let positions: FloatBuffer  // (positions, C) sinusoidal table
    let scale: Float  // √d_model
    // Inputs of the last forward pass.
    let sourceTokens: UnsafeMutablePointer<Int32>, targetTokens: UnsafeMutablePointer<Int32>
    let labels: UnsafeMutablePointer<Int32>
    let sourceMask: UnsafeMutablePointer<UInt8>, targetMask: UnsafeMutablePointer<UInt8>
    // Activations.
    let sourceEmbedded: FloatBuffer  // (B·S, C)
    let targetEmbedded: FloatBuffer  // (B·T, C)
    /// The encoder output after its final norm: the memory of cross-attention, (B·S, C).
    public let memory: FloatBuffer
    let decoderNormalized: FloatBuffer  // (B·T, C)
    /// Logits, then (after a forward with labels) probabilities: (B·T, Vt).
    public let logits: FloatBuffer
    let losses: FloatBuffer
    // Gradients.
    let sourceStream: FloatBuffer, targetStream: FloatBuffer, memoryGradient: FloatBuffer, logitsGradient: FloatBuffer
    private var lastContexts: (encoder: PassContext, decoder: PassContext)?

    /// Dropout sites: 0 source embedding, 1 target embedding; encoder layer l: 2 + 3l (attention
    /// residual, probabilities, feed-forward residual); decoder layer l: 2 + 3L + 5l (self residual,
    /// self probabilities, cross residual, cross probabilities, feed-forward residual).
    public init(shape: Seq2SeqShape, batch: Int, sourceLength: Int, targetLength: Int, parameters: ParameterStore? = nil) {
        self.shape = shape
        let store = parameters ?? shape.layout().makeStore()
        self.parameters = store
        let C = shape.channels, L = shape.layers
        let limits = ActivationLimits(batch: batch, time: targetLength, memoryTime: sourceLength)
        self.limits = limits
        let encoderLimits = ActivationLimits(batch: batch, time: sourceLength)
        encoder = (0 ..< L).map { l in
            let (attention, feedForward) = shape.encoderSpecs(l)
            return TransformerBlock(sublayers: [
                AttentionSublayer(attention, store: store, channels: C, heads: shape.heads, epsilon: shape.epsilon,
                                  limits: encoderLimits, dropoutSite: 2 + 3 * l, probabilityDropoutSite: 3 + 3 * l),
                FeedForwardSublayer(feedForward, store: store, channels: C, hidden: shape.feedForward, epsilon: shape.epsilon,
                                    limits: encoderLimits, dropoutSite: 4 + 3 * l),
            ], channels: C, limits: encoderLimits)
        }
        decoder = (0 ..< L).map { l in
            let (selfAttention, crossAttention, feedForward) = shape.decoderSpecs(l)
            let site = 2 + 3 * L + 5 * l
            return TransformerBlock(sublayers: [
                AttentionSublayer(selfAttention, store: store, channels: C, heads: shape.heads, epsilon: shape.epsilon,
                                  limits: limits, dropoutSite: site, probabilityDropoutSite: site + 1),
                AttentionSublayer(crossAttention, store: store, channels: C, heads: shape.heads, epsilon: shape.epsilon,
                                  limits: limits, dropoutSite: site + 2, probabilityDropoutSite: site + 3),
                FeedForwardSublayer(feedForward, store: store, channels: C, hidden: shape.feedForward, epsilon: shape.epsilon,
                                    limits: limits, dropoutSite: site + 4),
            ], channels: C, limits: limits)
        }
        encoderNorm = LayerNormLayer(store, "encoder/final_norm", channels: C, epsilon: shape.epsilon, rows: batch * sourceLength)
        decoderNorm = LayerNormLayer(store, "decoder/final_norm", channels: C, epsilon: shape.epsilon, rows: batch * targetLength)
        projection = LinearLayer(store, "projection", inputs: C, outputs: shape.targetVocabulary)
        scratch = BackwardScratch(limits: ActivationLimits(batch: batch, time: max(sourceLength, targetLength),
                                                           memoryTime: sourceLength),
                                  channels: C, feedForward: shape.feedForward)
        positions = FloatBuffer(SinusoidalPositions.table(time: shape.positions, channels: C))
        scale = Float(C).squareRoot()
        let sourceRows = batch * sourceLength, targetRows = batch * targetLength
        sourceTokens = alignedAllocate(Int32.self, count: sourceRows)
        targetTokens = alignedAllocate(Int32.self, count: targetRows)
        labels = alignedAllocate(Int32.self, count: targetRows)
        sourceMask = alignedAllocate(UInt8.self, count: sourceRows)
        targetMask = alignedAllocate(UInt8.self, count: targetRows)
        sourceEmbedded = FloatBuffer(count: sourceRows * C)
        targetEmbedded = FloatBuffer(count: targetRows * C)
        memory = FloatBuffer(count: sourceRows * C)
        decoderNormalized = FloatBuffer(count: targetRows * C)
        logits = FloatBuffer(count: targetRows * shape.targetVocabulary)
        losses = FloatBuffer(count: targetRows)
        sourceStream = FloatBuffer(count: sourceRows * C)
        targetStream = FloatBuffer(count: targetRows * C)
        memoryGradient = FloatBuffer(count: sourceRows * C)
        logitsGradient = FloatBuffer(count: targetRows * shape.targetVocabulary)
    }

    deinit {
        sourceTokens.deallocate()
        targetTokens.deallocate()
        labels.deallocate()
        sourceMask.deallocate()
        targetMask.deallocate()
    }

    /// The seed's initialisation: Xavier-uniform for every matrix (embeddings included: fan-in is
    /// the second dimension, fan-out the first, as PyTorch computes them), biases 0, norms 1 and 0.
    /// Each tensor draws from its own Philox stream.
    public func initialize(seed: UInt64) {
        for (index, entry) in parameters.entries.enumerated() {
            let values = parameters.values.pointer + entry.offset
            if entry.shape.count < 2 {
                values.update(repeating: entry.name.contains("norm") && entry.name.hasSuffix("weight") ? 1 : 0, count: entry.count)
                continue
            }
            let bound = (6 / Double(entry.shape[0] + entry.shape[1])).squareRoot()
            let stream = RandomStream(seed: seed, 0x494E_4954, UInt32(index), 0)
            for i in 0 ..< entry.count { values[i] = Float((2 * stream.uniformDouble(i) - 1) * bound) }
        }
    }

    /// Embeds tokens ×√d_model, adds the sinusoidal positions, applies dropout.
    private func embed(_ output: FloatBuffer, tokens: UnsafePointer<Int32>, table: String, batch: Int, time: Int,
                       site: Int, dropout: DropoutContext?, parallelism: Parallelism) {
        let C = shape.channels, rows = batch * time
        Embedding.forward(output: output.pointer, tokens: tokens, table: parameters.view(table).value, rows: rows,
                          channels: C, scale: scale, parallelism: parallelism)
        SinusoidalPositions.forward(output: output.pointer, input: output.readPointer, table: positions.readPointer,
                                    batch: batch, time: time, channels: C, parallelism: parallelism)
        if let dropout {
            Dropout.forward(output: output.pointer, input: output.readPointer, count: rows * C, probability: dropout.probability,
                            stream: dropout.stream(site: site), parallelism: parallelism)
        }
    }

    /// Runs the encoder on `source` (B, S) with its padding mask; the result is in `memory`.
    public func encode(source: UnsafePointer<Int32>, mask: UnsafePointer<UInt8>, batch: Int, length S: Int,
                       dropout: DropoutContext? = nil, parallelism: Parallelism) {
        precondition(batch <= limits.batch && S <= limits.memoryTime && S <= shape.positions, "encode: (\(batch), \(S)) exceeds \(limits)")
        let rows = batch * S
        sourceTokens.update(from: source, count: rows)
        sourceMask.update(from: mask, count: rows)
        let context = PassContext(batch: batch, time: S, mask: sourceMask, dropout: dropout, parallelism: parallelism)
        embed(sourceEmbedded, tokens: sourceTokens, table: "source_embedding/weight", batch: batch, time: S, site: 0,
              dropout: dropout, parallelism: parallelism)
        var x = sourceEmbedded.readPointer
        for block in encoder {
            block.forward(input: x, context: context)
            x = block.output
        }
        encoderNorm.forward(output: memory.pointer, input: x, rows: rows, parallelism)
        lastContexts = (context, lastContexts?.decoder ?? context)
    }

    /// Runs the decoder on `target` (B, T) over the current `memory` (from `encode`, source length
    /// `sourceLength`); leaves the logits in `logits`. With `labels` (B, T; `ignoreIndex` for
    /// padding) returns the summed cross-entropy (label smoothing from the shape).
    @discardableResult
    public func decode(target: UnsafePointer<Int32>, mask: UnsafePointer<UInt8>, labels label: UnsafePointer<Int32>?,
                       batch: Int, length T: Int, sourceLength S: Int, dropout: DropoutContext? = nil,
                       parallelism: Parallelism) -> CrossEntropy.Total? {
        precondition(batch <= limits.batch && T <= limits.time && T <= shape.positions, "decode: (\(batch), \(T)) exceeds \(limits)")
        let rows = batch * T, V = shape.targetVocabulary
        targetTokens.update(from: target, count: rows)
        targetMask.update(from: mask, count: rows)
        let context = PassContext(batch: batch, time: T, memoryTime: S, mask: targetMask, memoryMask: sourceMask,
                                  dropout: dropout, parallelism: parallelism)
        embed(targetEmbedded, tokens: targetTokens, table: "target_embedding/weight", batch: batch, time: T, site: 1,
              dropout: dropout, parallelism: parallelism)
        var x = targetEmbedded.readPointer
        for block in decoder {
            block.forward(input: x, memory: memory.readPointer, context: context)
            x = block.output
        }
        decoderNorm.forward(output: decoderNormalized.pointer, input: x, rows: rows, parallelism)
        projection.forward(output: logits.pointer, input: decoderNormalized.readPointer, rows: rows, parallelism)
        lastContexts = (lastContexts?.encoder ?? context, context)
        guard let label else { return nil }
        labels.update(from: label, count: rows)
        return CrossEntropy.forward(losses: losses.pointer, probabilities: logits.pointer, logits: logits.readPointer,
                                    targets: labels, rows: rows, classes: V, labelSmoothing: shape.labelSmoothing,
                                    ignoreIndex: Seq2SeqModel.ignoreIndex, parallelism: parallelism)
    }

    /// Label of padded target positions.
    public static let ignoreIndex: Int32 = -100

    /// Backward of the last `encode` + `decode` (with labels): accumulates into
    /// `parameters.gradients` the gradient of `lossScale · Σ losses`. `gradientsReady` reports
    /// finished parameter entries (projection and decoder first, then encoder, then embeddings).
    public func backward(lossScale: Float = 1, gradientsReady: ((Range<Int>) -> Void)? = nil) {
        guard let (encoderContext, decoderContext) = lastContexts else { preconditionFailure("backward without a forward") }
        let C = shape.channels, V = shape.targetVocabulary, threads = decoderContext.parallelism
        let targetRows = decoderContext.rows, sourceRows = encoderContext.rows
        // Loss → projection → decoder final norm.
        logitsGradient.pointer.update(repeating: 0, count: targetRows * V)
        CrossEntropy.backward(logitsGradient: logitsGradient.pointer, probabilities: logits.readPointer, targets: labels,
                              rows: targetRows, classes: V, labelSmoothing: shape.labelSmoothing,
                              ignoreIndex: Seq2SeqModel.ignoreIndex, scale: lossScale, parallelism: threads)
        let dNormalized = scratch.branch.pointer
        dNormalized.update(repeating: 0, count: targetRows * C)
        projection.backward(inputGradient: dNormalized, outputGradient: logitsGradient.readPointer,
                            input: decoderNormalized.readPointer, rows: targetRows, threads)
        targetStream.pointer.update(repeating: 0, count: targetRows * C)
        let decoderOutput = decoder.last?.output ?? targetEmbedded.readPointer
        decoderNorm.backward(inputGradient: targetStream.pointer, outputGradient: dNormalized, input: decoderOutput,
                             rows: targetRows, threads)
        gradientsReady?(parameters.entryRange(prefix: "projection/"))
        gradientsReady?(parameters.entryRange(prefix: "decoder/final_norm/"))
        // Decoder blocks, collecting the gradient of the memory from every cross-attention.
        memoryGradient.pointer.update(repeating: 0, count: sourceRows * C)
        for l in decoder.indices.reversed() {
            let input = l == 0 ? targetEmbedded.readPointer : decoder[l - 1].output
            decoder[l].backward(streamGradient: targetStream.pointer, input: input, memory: memory.readPointer,
                                memoryGradient: memoryGradient.pointer, scratch: scratch, context: decoderContext)
            gradientsReady?(parameters.entryRange(prefix: "decoder/blocks/\(l)/"))
        }
        // Encoder final norm → encoder blocks.
        sourceStream.pointer.update(repeating: 0, count: sourceRows * C)
        let encoderOutput = encoder.last?.output ?? sourceEmbedded.readPointer
        encoderNorm.backward(inputGradient: sourceStream.pointer, outputGradient: memoryGradient.readPointer,
                             input: encoderOutput, rows: sourceRows, threads)
        gradientsReady?(parameters.entryRange(prefix: "encoder/final_norm/"))
        for l in encoder.indices.reversed() {
            let input = l == 0 ? sourceEmbedded.readPointer : encoder[l - 1].output
            encoder[l].backward(streamGradient: sourceStream.pointer, input: input, scratch: scratch, context: encoderContext)
            gradientsReady?(parameters.entryRange(prefix: "encoder/blocks/\(l)/"))
        }
        // Embeddings (through dropout; the positions are fixed).
        embeddingBackward(targetStream, tokens: targetTokens, table: "target_embedding/weight", site: 1, context: decoderContext)
        embeddingBackward(sourceStream, tokens: sourceTokens, table: "source_embedding/weight", site: 0, context: encoderContext)
        gradientsReady?(parameters.entryRange(prefix: "target_embedding/"))
        gradientsReady?(parameters.entryRange(prefix: "source_embedding/"))
    }

    private func embeddingBackward(_ stream: FloatBuffer, tokens: UnsafePointer<Int32>, table: String, site: Int,
                                   context: PassContext) {
        let C = shape.channels, rows = context.rows
        var gradient = stream.readPointer
        if let dropout = context.dropout {
            let buffer = scratch.branch.pointer
            buffer.update(repeating: 0, count: rows * C)
            Dropout.backward(inputGradient: buffer, outputGradient: stream.readPointer, count: rows * C,
                             probability: dropout.probability, stream: dropout.stream(site: site), parallelism: context.parallelism)
            gradient = UnsafePointer(buffer)
        }
        Embedding.backward(tableGradient: parameters.view(table).gradient, outputGradient: gradient, tokens: tokens,
                           rows: rows, channels: C, scale: scale, parallelism: context.parallelism)
    }

    /// Attention probabilities of the last pass: encoder self-attention of layer l (B, NH, S, S),
    /// decoder self-attention (B, NH, T, T) and cross-attention (B, NH, T, S).
    public func attentionProbabilities(encoderLayer l: Int) -> FloatBuffer { (encoder[l].sublayers[0] as! AttentionSublayer).probabilities }
    public func attentionProbabilities(decoderSelfLayer l: Int) -> FloatBuffer { (decoder[l].sublayers[0] as! AttentionSublayer).probabilities }
    public func attentionProbabilities(crossLayer l: Int) -> FloatBuffer { (decoder[l].sublayers[1] as! AttentionSublayer).probabilities }
}
