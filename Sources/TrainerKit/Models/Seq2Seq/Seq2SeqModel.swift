import Foundation

/// The encoder–decoder over a `ParameterStore`: source and target embeddings scaled by √d_model,
/// sinusoidal positions, dropout, N encoder blocks (self-attention, feed-forward) and N decoder
/// blocks (causal self-attention, cross-attention over the encoder output, feed-forward), final
/// norms on both sides, and a projection to the target vocabulary ("Attention Is All You Need",
/// with the seed course's pre-norm residuals). Padding is masked everywhere: padded keys are
/// hidden, padded queries give zero rows, padded targets are ignored by the loss.
public final class Seq2SeqModel {
    /// The sizes (the run config's `model` section, resolved); `positions` bounds both sides,
    /// [SOS]/[EOS] included.
    public let config: ModelConfig
    public let sourceVocabulary: Int, targetVocabulary: Int
    public let parameters: ParameterStore
    /// Batch, longest target (time) and longest source (memoryTime) this instance can hold.
    public let limits: ActivationLimits
    /// The number format of the matrix products (`precision` of the run config).
    public var precision = Precision.fp32
    /// Keep every attention probability for `attentionProbabilities` (slower; inference only).
    public var recordsAttention = false
    let encoder: TransformerStack
    let decoder: TransformerStack
    let encoderNorm: LayerNormLayer, decoderNorm: LayerNormLayer
    let projection: LinearLayer
    let scratch: BackwardScratch
    /// Dropout sites: the two embeddings', then each sublayer's, encoder first (`DropoutSites`).
    let sites: DropoutSites
    let sourceSite: Int, targetSite: Int
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

    /// Parameter names, shapes and roles. The order is the order in which the backward pass
    /// finishes tensors, reversed: embeddings, encoder, decoder, projection.
    public static func layout(_ config: ModelConfig, sourceVocabulary: Int, targetVocabulary: Int) -> ParameterLayout {
        var layout = ParameterLayout()
        layout.addEmbedding("source_embedding/weight", rows: sourceVocabulary, channels: config.channels)
        layout.addEmbedding("target_embedding/weight", rows: targetVocabulary, channels: config.channels)
        TransformerStack.declare(.encoder, prefix: "encoder/blocks", config: config, in: &layout)
        layout.addLayerNorm("encoder/final_norm", channels: config.channels)
        TransformerStack.declare(.decoder, prefix: "decoder/blocks", config: config, in: &layout)
        layout.addLayerNorm("decoder/final_norm", channels: config.channels)
        layout.addLinear("projection", inputs: config.channels, outputs: targetVocabulary)
        return layout
    }

    /// A model of `config`'s sizes (resolved) for up to `batch` pairs of at most `sourceLength` and
    /// `targetLength` tokens, over `parameters` or a new zero-filled store.
    public init(config: ModelConfig, sourceVocabulary: Int, targetVocabulary: Int, batch: Int, sourceLength: Int,
                targetLength: Int, parameters: ParameterStore? = nil) {
        self.config = config
        self.sourceVocabulary = sourceVocabulary
        self.targetVocabulary = targetVocabulary
        let store = parameters ?? Seq2SeqModel.layout(config, sourceVocabulary: sourceVocabulary,
                                                      targetVocabulary: targetVocabulary).makeStore()
        self.parameters = store
        let C = config.channels, epsilon = Float(config.normEpsilon)
        let limits = ActivationLimits(batch: batch, time: targetLength, memoryTime: sourceLength)
        self.limits = limits
        var sites = DropoutSites()
        sourceSite = sites.declare("source_embedding")
        targetSite = sites.declare("target_embedding")
        encoder = TransformerStack(.encoder, prefix: "encoder/blocks", config: config, store: store,
                                   limits: ActivationLimits(batch: batch, time: sourceLength), sites: &sites)
        decoder = TransformerStack(.decoder, prefix: "decoder/blocks", config: config, store: store, limits: limits,
                                   sites: &sites)
        self.sites = sites
        encoderNorm = LayerNormLayer(store, "encoder/final_norm", channels: C, epsilon: epsilon, rows: batch * sourceLength)
        decoderNorm = LayerNormLayer(store, "decoder/final_norm", channels: C, epsilon: epsilon, rows: batch * targetLength)
        projection = LinearLayer(store, "projection", inputs: C, outputs: targetVocabulary)
        scratch = BackwardScratch(limits: ActivationLimits(batch: batch, time: max(sourceLength, targetLength),
                                                           memoryTime: sourceLength),
                                  channels: C, feedForward: config.feedForward)
        positions = FloatBuffer(SinusoidalPositions.table(time: config.positions, channels: C))
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
        logits = FloatBuffer(count: targetRows * targetVocabulary)
        losses = FloatBuffer(count: targetRows)
        sourceStream = FloatBuffer(count: sourceRows * C)
        targetStream = FloatBuffer(count: targetRows * C)
        memoryGradient = FloatBuffer(count: sourceRows * C)
        logitsGradient = FloatBuffer(count: targetRows * targetVocabulary)
    }

    /// Model FLOPs (forward + backward) of a micro-batch: 6 per parameter per token on its side
    /// (encoder weights see source tokens, decoder weights and the projection target tokens; cross
    /// key/value projections see source tokens once per decoder layer) plus attention.
    public func flops(sourceTokens S: Double, targetTokens T: Double, sourceLength: Double, targetLength: Double) -> Double {
        let C = Double(config.channels), F = Double(config.feedForward), L = Double(config.layers)
        let encoderLayer = 4 * C * C + 2 * C * F
        let decoderLayer = 4 * C * C + 2 * C * C + 2 * C * F  // self q,k,v,o + cross q,o + FF
        let crossKeyValue = 2 * C * C
        var total = 6 * (L * encoderLayer * S + L * (decoderLayer * T + crossKeyValue * S) + C * Double(targetVocabulary) * T)
        // Attention products: 12·width·(keys) per token per layer (PaLM's count).
        total += 12 * L * C * (S * sourceLength + T * targetLength / 2 + T * sourceLength)
        return total
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
        parameters.initialize(seed: seed) { entry, stream, i in
            let bound = (6 / Double(entry.shape[0] + entry.shape[1])).squareRoot()
            return Float((2 * stream.uniformDouble(i) - 1) * bound)
        }
    }

    /// Embeds tokens ×√d_model, adds the sinusoidal positions (from `firstPosition` on), applies dropout.
    private func embed(_ output: FloatBuffer, tokens: UnsafePointer<Int32>, table: String, batch: Int, time: Int,
                       firstPosition: Int = 0, site: Int, dropout: DropoutContext?, parallelism: Parallelism) {
        let C = config.channels, rows = batch * time
        Embedding.forward(output: output.pointer, tokens: tokens, table: parameters.view(table).value, rows: rows,
                          channels: C, scale: scale, parallelism: parallelism)
        SinusoidalPositions.forward(output: output.pointer, input: output.readPointer,
                                    table: positions.readPointer + firstPosition * C, batch: batch, time: time, channels: C, parallelism: parallelism)
        dropout?.applyInPlace(output.pointer, count: rows * C, site: site, parallelism: parallelism)
    }

    /// Runs the encoder on `source` (B, S) with its padding mask; the result is in `memory`.
    public func encode(source: UnsafePointer<Int32>, mask: UnsafePointer<UInt8>, batch: Int, length S: Int,
                       dropout: DropoutContext? = nil, parallelism: Parallelism) {
        precondition(batch <= limits.batch && S <= limits.memoryTime && S <= config.positions, "encode: (\(batch), \(S)) exceeds \(limits)")
        let rows = batch * S
        sourceTokens.update(from: source, count: rows)
        sourceMask.update(from: mask, count: rows)
        let context = PassContext(batch: batch, time: S, mask: sourceMask, dropout: dropout, parallelism: parallelism,
                                  precision: precision, recordsAttention: recordsAttention)
        embed(sourceEmbedded, tokens: sourceTokens, table: "source_embedding/weight", batch: batch, time: S, site: sourceSite,
              dropout: dropout, parallelism: parallelism)
        let x = encoder.forward(input: sourceEmbedded.readPointer, context: context)
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
        precondition(batch <= limits.batch && T <= limits.time && T <= config.positions, "decode: (\(batch), \(T)) exceeds \(limits)")
        let rows = batch * T, V = targetVocabulary
        targetTokens.update(from: target, count: rows)
        targetMask.update(from: mask, count: rows)
        let context = PassContext(batch: batch, time: T, memoryTime: S, mask: targetMask, memoryMask: sourceMask,
                                  dropout: dropout, parallelism: parallelism, precision: precision,
                                  recordsAttention: recordsAttention)
        embed(targetEmbedded, tokens: targetTokens, table: "target_embedding/weight", batch: batch, time: T, site: targetSite,
              dropout: dropout, parallelism: parallelism)
        let x = decoder.forward(input: targetEmbedded.readPointer, memory: memory.readPointer, context: context)
        decoderNorm.forward(output: decoderNormalized.pointer, input: x, rows: rows, parallelism)
        projection.forward(output: logits.pointer, input: decoderNormalized.readPointer, rows: rows, precision: precision,
                           parallelism)
        lastContexts = (lastContexts?.encoder ?? context, context)
        guard let label else { return nil }
        labels.update(from: label, count: rows)
        return CrossEntropy.forward(losses: losses.pointer, probabilities: logits.pointer, logits: logits.readPointer,
                                    targets: labels, rows: rows, classes: V, labelSmoothing: Float(config.labelSmoothing),
                                    ignoreIndex: Seq2SeqModel.ignoreIndex, parallelism: parallelism)
    }

    /// A key/value cache for decoding up to `rows` rows step by step over the encoded memory.
    public func makeCache(rows: Int) -> DecodingCache {
        DecodingCache(layers: config.layers, rows: rows, capacity: min(config.positions, limits.time), channels: config.channels)
    }

    /// Starts step-by-step decoding of `batch` rows over the current `memory` (from `encode`,
    /// source length `sourceLength`): every cross-attention projects the memory once; `cache` is emptied.
    public func beginDecoding(batch: Int, sourceLength S: Int, cache: DecodingCache, parallelism: Parallelism) {
        precondition(batch <= cache.rows && batch <= limits.batch, "beginDecoding: \(batch) rows exceed the cache or the limits")
        let context = PassContext(batch: batch, time: 1, memoryTime: S, memoryMask: sourceMask, parallelism: parallelism,
                                  precision: precision)
        decoder.prepareMemory(memory.readPointer, context: context)
        cache.reset()
    }

    /// One decoding step: `tokens` (one per row) at position `cache.length`; their next-token
    /// logits are rows `0 ..< tokens.count` of `logits`. Same result as `decode` over the whole
    /// prefixes (to rounding), in O(prefix) instead of O(prefix²).
    public func step(tokens input: [Int32], sourceLength S: Int, cache: DecodingCache, parallelism: Parallelism) {
        let rows = input.count, position = cache.length
        precondition(rows <= cache.rows && position < cache.capacity, "decoder step: \(rows) rows at \(position) exceed the cache")
        targetTokens.update(from: input, count: rows)
        let context = PassContext(batch: rows, time: 1, memoryTime: S, memoryMask: sourceMask, parallelism: parallelism,
                                  precision: precision)
        embed(targetEmbedded, tokens: targetTokens, table: "target_embedding/weight", batch: rows, time: 1,
              firstPosition: position, site: targetSite, dropout: nil, parallelism: parallelism)
        let x = decoder.step(input: targetEmbedded.readPointer, memory: memory.readPointer, context: context, cache: cache)
        decoderNorm.forward(output: decoderNormalized.pointer, input: x, rows: rows, parallelism)
        projection.forward(output: logits.pointer, input: decoderNormalized.readPointer, rows: rows, precision: precision,
                           parallelism)
        lastContexts = nil
    }

    /// Label of padded target positions.
    public static let ignoreIndex: Int32 = -100

    /// Backward of the last `encode` + `decode` (with labels): accumulates into
    /// `parameters.gradients` the gradient of `lossScale · Σ losses`. `gradientsReady` reports
    /// finished parameter entries (projection and decoder first, then encoder, then embeddings).
    public func backward(lossScale: Float = 1, gradientsReady: ((Range<Int>) -> Void)? = nil) {
        guard let (encoderContext, decoderContext) = lastContexts else { preconditionFailure("backward without a forward") }
        let C = config.channels, V = targetVocabulary, threads = decoderContext.parallelism
        let targetRows = decoderContext.rows, sourceRows = encoderContext.rows
        // Loss → projection → decoder final norm.
        logitsGradient.pointer.update(repeating: 0, count: targetRows * V)
        CrossEntropy.backward(logitsGradient: logitsGradient.pointer, probabilities: logits.readPointer, targets: labels,
                              rows: targetRows, classes: V, labelSmoothing: Float(config.labelSmoothing),
                              ignoreIndex: Seq2SeqModel.ignoreIndex, scale: lossScale, parallelism: threads)
        let dNormalized = scratch.branch.pointer
        dNormalized.update(repeating: 0, count: targetRows * C)
        projection.backward(inputGradient: dNormalized, outputGradient: logitsGradient.readPointer,
                            input: decoderNormalized.readPointer, rows: targetRows, precision: decoderContext.precision,
                            scratch: scratch, threads)
        targetStream.pointer.update(repeating: 0, count: targetRows * C)
        decoderNorm.backward(inputGradient: targetStream.pointer, outputGradient: dNormalized,
                             input: decoder.output(input: targetEmbedded.readPointer), rows: targetRows, threads)
        gradientsReady?(parameters.entryRange(prefix: "projection/"))
        gradientsReady?(parameters.entryRange(prefix: "decoder/final_norm/"))
        // Decoder blocks, collecting the gradient of the memory from every cross-attention.
        memoryGradient.pointer.update(repeating: 0, count: sourceRows * C)
        decoder.backward(streamGradient: targetStream.pointer, input: targetEmbedded.readPointer, memory: memory.readPointer,
                         memoryGradient: memoryGradient.pointer, scratch: scratch, context: decoderContext,
                         parameters: parameters, gradientsReady: gradientsReady)
        // Encoder final norm → encoder blocks.
        sourceStream.pointer.update(repeating: 0, count: sourceRows * C)
        encoderNorm.backward(inputGradient: sourceStream.pointer, outputGradient: memoryGradient.readPointer,
                             input: encoder.output(input: sourceEmbedded.readPointer), rows: sourceRows, threads)
        gradientsReady?(parameters.entryRange(prefix: "encoder/final_norm/"))
        encoder.backward(streamGradient: sourceStream.pointer, input: sourceEmbedded.readPointer, scratch: scratch,
                         context: encoderContext, parameters: parameters, gradientsReady: gradientsReady)
        // Embeddings (through dropout; the positions are fixed).
        embeddingBackward(targetStream, tokens: targetTokens, table: "target_embedding/weight", site: targetSite,
                          context: decoderContext)
        embeddingBackward(sourceStream, tokens: sourceTokens, table: "source_embedding/weight", site: sourceSite,
                          context: encoderContext)
        gradientsReady?(parameters.entryRange(prefix: "target_embedding/"))
        gradientsReady?(parameters.entryRange(prefix: "source_embedding/"))
    }

    private func embeddingBackward(_ stream: FloatBuffer, tokens: UnsafePointer<Int32>, table: String, site: Int,
                                   context: PassContext) {
        let C = config.channels, rows = context.rows
        let gradient = context.dropout?.backward(stream.readPointer, count: rows * C, site: site, into: scratch.branch.pointer,
                                                 parallelism: context.parallelism) ?? stream.readPointer
        Embedding.backward(tableGradient: parameters.view(table).gradient, outputGradient: gradient, tokens: tokens,
                           rows: rows, channels: C, scale: scale, parallelism: context.parallelism)
    }

    /// Attention probabilities of the last pass (needs `recordsAttention`): encoder self-attention
    /// of layer l (B, NH, S, S), decoder self-attention (B, NH, T, T) and cross-attention (B, NH, T, S).
    public func attentionProbabilities(encoderLayer l: Int) -> FloatBuffer { encoder.attentions[l][0].recordedProbabilities }
    public func attentionProbabilities(decoderSelfLayer l: Int) -> FloatBuffer { decoder.attentions[l][0].recordedProbabilities }
    public func attentionProbabilities(crossLayer l: Int) -> FloatBuffer { decoder.attentions[l][1].recordedProbabilities }
}
