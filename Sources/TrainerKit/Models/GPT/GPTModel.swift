import Foundation

/// A GPT (nanoGPT's model) over a `ParameterStore`: token + learned position embeddings, dropout,
/// N pre-norm blocks (causal self-attention, feed-forward), a final layer norm and the LM head.
/// Its sizes are the run config's `model` section (`ModelConfig`, resolved). Activations are
/// allocated once for `limits`; several models (a training one, a sampling one) can share one store.
public final class GPTModel {
    /// The sizes: layers, heads, channels, feed-forward width, positions, activation, dropout, tying.
    public let config: ModelConfig
    /// Tokens in the vocabulary (the tokenizer's).
    public let vocabulary: Int
    public let parameters: ParameterStore
    public let limits: ActivationLimits
    /// The number format of the matrix products (`precision` of the run config).
    public var precision = Precision.fp32
    /// Keep every attention probability for `attentionProbabilities` (slower; inference only).
    public var recordsAttention = false
    let stack: TransformerStack
    let finalNorm: LayerNormLayer
    let head: LinearLayer
    let scratch: BackwardScratch
    /// Dropout sites: the embeddings', then each sublayer's (`DropoutSites`).
    let sites: DropoutSites
    let embeddingSite: Int
    // Activations, (rows, ·) with rows = limits.batch · limits.time.
    let tokens: UnsafeMutablePointer<Int32>  // (rows)
    let targets: UnsafeMutablePointer<Int32>  // (rows)
    let embedded: FloatBuffer  // (rows, C)
    let normalized: FloatBuffer  // (rows, C)
    /// Logits, then (after a forward with targets) the softmax probabilities: (rows, V).
    public let logits: FloatBuffer
    let losses: FloatBuffer  // (rows)
    let streamGradient: FloatBuffer  // (rows, C)
    let logitsGradient: FloatBuffer  // (rows, V)
    private var lastContext: PassContext?

    /// Parameter names, shapes and roles, in layout order (PyTorch module paths, '/' for '.'):
    /// the embeddings, the blocks, the final norm, and the LM head unless it is tied.
    public static func layout(_ config: ModelConfig, vocabulary: Int) -> ParameterLayout {
        var layout = ParameterLayout()
        layout.addEmbedding("token_embedding/weight", rows: vocabulary, channels: config.channels)
        layout.addEmbedding("position_embedding/weight", rows: config.positions, channels: config.channels)
        TransformerStack.declare(.causal, prefix: "blocks", config: config, in: &layout)
        layout.addLayerNorm("final_norm", channels: config.channels)
        if !config.tieEmbeddings { layout.addLinear("lm_head", inputs: config.channels, outputs: vocabulary, bias: false) }
        return layout
    }

    /// A model of `config`'s sizes (resolved: `ModelConfig.resolved`) over `parameters`, or over a
    /// new zero-filled store.
    public init(config: ModelConfig, vocabulary: Int, limits: ActivationLimits, parameters: ParameterStore? = nil) {
        self.config = config
        self.vocabulary = vocabulary
        self.limits = limits
        let store = parameters ?? GPTModel.layout(config, vocabulary: vocabulary).makeStore()
        self.parameters = store
        let C = config.channels, rows = limits.rows, V = vocabulary
        var sites = DropoutSites()
        embeddingSite = sites.declare("embedding")
        stack = TransformerStack(.causal, prefix: "blocks", config: config, store: store, limits: limits, sites: &sites)
        self.sites = sites
        finalNorm = LayerNormLayer(store, "final_norm", channels: C, epsilon: Float(config.normEpsilon), rows: rows)
        head = config.tieEmbeddings
            ? LinearLayer(weight: store.view("token_embedding/weight"), bias: nil, inputs: C, outputs: V)
            : LinearLayer(store, "lm_head", inputs: C, outputs: V, bias: false)
        scratch = BackwardScratch(limits: limits, channels: C, feedForward: config.feedForward)
        tokens = alignedAllocate(Int32.self, count: rows)
        targets = alignedAllocate(Int32.self, count: rows)
        tokens.initialize(repeating: 0, count: rows)
        targets.initialize(repeating: 0, count: rows)
        embedded = FloatBuffer(count: rows * C)
        normalized = FloatBuffer(count: rows * C)
        logits = FloatBuffer(count: rows * V)
        losses = FloatBuffer(count: rows)
        streamGradient = FloatBuffer(count: rows * C)
        logitsGradient = FloatBuffer(count: rows * V)
    }

    /// Model FLOPs per trained token (forward + backward), nanoGPT/PaLM's estimate:
    /// 6·N (N = parameters without the position embedding) + 12·layers·channels·T for attention.
    public func flopsPerToken(sequenceLength T: Int) -> Double {
        let nonEmbedding = parameters.count - config.positions * config.channels
        return 6 * Double(nonEmbedding) + 12 * Double(config.layers * config.channels * T)
    }

    deinit {
        tokens.deallocate()
        targets.deallocate()
    }

    /// nanoGPT's initialisation: Linear and embedding weights N(0, 0.02²), the residual projections
    /// (attention output, second feed-forward layer) N(0, (0.02/√(2·layers))²), biases 0, norms 1/0.
    /// Every tensor draws from its own Philox stream, so the result depends only on the seed.
    public func initialize(seed: UInt64) {
        let residualStd = 0.02 / (2 * Double(config.layers)).squareRoot()
        parameters.initialize(seed: seed) { entry, stream, i in
            Float(stream.normal(i) * (entry.role == .residualWeight ? residualStd : 0.02))
        }
    }

    /// Forward pass over `batch` sequences of `time` tokens (`tokens` (B, T)). With `targets` it
    /// returns the summed cross-entropy and the number of counted targets, and keeps what backward
    /// needs; without, it leaves the logits in `logits`.
    @discardableResult
    public func forward(tokens input: UnsafePointer<Int32>, targets target: UnsafePointer<Int32>?,
                        batch: Int, time: Int, dropout: DropoutContext? = nil,
                        parallelism: Parallelism) -> CrossEntropy.Total? {
        precondition(batch <= limits.batch && time <= limits.time && time <= config.positions,
                     "GPT forward: (\(batch), \(time)) exceeds the limits \(limits)")
        let context = PassContext(batch: batch, time: time, dropout: dropout, parallelism: parallelism, precision: precision,
                                  recordsAttention: recordsAttention)
        lastContext = context
        let rows = context.rows, C = config.channels, V = vocabulary
        tokens.update(from: input, count: rows)
        let table = parameters.view("token_embedding/weight"), positions = parameters.view("position_embedding/weight")
        Embedding.forward(output: embedded.pointer, tokens: tokens, table: table.value, rows: rows, channels: C,
                          parallelism: parallelism)
        PositionEmbedding.forward(output: embedded.pointer, input: embedded.readPointer, table: positions.value,
                                  batch: batch, time: time, channels: C, parallelism: parallelism)
        dropout?.applyInPlace(embedded.pointer, count: rows * C, site: embeddingSite, parallelism: parallelism)
        let x = stack.forward(input: embedded.readPointer, context: context)
        finalNorm.forward(output: normalized.pointer, input: x, rows: rows, parallelism)
        head.forward(output: logits.pointer, input: normalized.readPointer, rows: rows, precision: precision, parallelism)
        guard let target else { return nil }
        targets.update(from: target, count: rows)
        return CrossEntropy.forward(losses: losses.pointer, probabilities: logits.pointer, logits: logits.readPointer,
                                    targets: targets, rows: rows, classes: V, parallelism: parallelism)
    }

    /// A key/value cache for decoding `rows` sequences of up to `positions` tokens step by step.
    public func makeCache(rows: Int = 1) -> DecodingCache {
        DecodingCache(layers: config.layers, rows: rows, capacity: min(config.positions, limits.time),
                      channels: config.channels)
    }

    /// Runs the forward pass over `batch` prompts of `time` tokens and keeps their keys and values
    /// in `cache`; the logits of every position are in `logits`.
    public func prefill(tokens: UnsafePointer<Int32>, batch: Int, time: Int, cache: DecodingCache,
                        parallelism: Parallelism) {
        forward(tokens: tokens, targets: nil, batch: batch, time: time, parallelism: parallelism)
        stack.storeKeysValues(into: cache, context: lastContext!)
    }

    /// One decoding step: `tokens` (one per row) at position `cache.length`; their next-token
    /// logits are rows `0 ..< tokens.count` of `logits`.
    public func step(tokens input: [Int32], cache: DecodingCache, parallelism: Parallelism) {
        let rows = input.count, C = config.channels, position = cache.length
        precondition(rows <= cache.rows && rows <= limits.batch && position < cache.capacity,
                     "GPT step: \(rows) rows at position \(position) exceed the cache or the limits")
        let context = PassContext(batch: rows, time: 1, parallelism: parallelism, precision: precision)
        tokens.update(from: input, count: rows)
        let table = parameters.view("token_embedding/weight"), positions = parameters.view("position_embedding/weight")
        Embedding.forward(output: embedded.pointer, tokens: tokens, table: table.value, rows: rows, channels: C,
                          parallelism: parallelism)
        PositionEmbedding.forward(output: embedded.pointer, input: embedded.readPointer, table: positions.value + position * C,
                                  batch: rows, time: 1, channels: C, parallelism: parallelism)
        let x = stack.step(input: embedded.readPointer, context: context, cache: cache)
        finalNorm.forward(output: normalized.pointer, input: x, rows: rows, parallelism)
        head.forward(output: logits.pointer, input: normalized.readPointer, rows: rows, precision: precision, parallelism)
        lastContext = nil
    }

    /// Backward pass of the last `forward` (which must have had targets): accumulates into
    /// `parameters.gradients` the gradient of `lossScale · Σ losses`.
    ///
    /// `gradientsReady` is told, as the pass goes from the head down to the embeddings, which
    /// parameter entries (indices into `parameters.entries`) have received their last contribution:
    /// the final norm (and untied head), then each block from the last to the first, then the
    /// embeddings. A data-parallel trainer starts reducing those while the pass goes on.
    public func backward(lossScale: Float = 1, gradientsReady: ((Range<Int>) -> Void)? = nil) {
        guard let context = lastContext else { preconditionFailure("GPT backward without a forward") }
        let rows = context.rows, C = config.channels, V = vocabulary, threads = context.parallelism
        logitsGradient.pointer.update(repeating: 0, count: rows * V)
        CrossEntropy.backward(logitsGradient: logitsGradient.pointer, probabilities: logits.readPointer, targets: targets,
                              rows: rows, classes: V, scale: lossScale, parallelism: threads)
        let dNormalized = scratch.branch.pointer
        dNormalized.update(repeating: 0, count: rows * C)
        head.backward(inputGradient: dNormalized, outputGradient: logitsGradient.readPointer,
                      input: normalized.readPointer, rows: rows, precision: context.precision, scratch: scratch, threads)
        streamGradient.pointer.update(repeating: 0, count: rows * C)
        finalNorm.backward(inputGradient: streamGradient.pointer, outputGradient: dNormalized,
                           input: stack.output(input: embedded.readPointer), rows: rows, threads)
        gradientsReady?(parameters.entryRange(after: "blocks/\(config.layers - 1)/"))
        stack.backward(streamGradient: streamGradient.pointer, input: embedded.readPointer, scratch: scratch, context: context,
                       parameters: parameters, gradientsReady: gradientsReady)
        // Through the embedding dropout, into both tables.
        let dEmbedded = context.dropout?.backward(streamGradient.readPointer, count: rows * C, site: embeddingSite,
                                                  into: scratch.branch.pointer, parallelism: threads)
            ?? streamGradient.readPointer
        let table = parameters.view("token_embedding/weight"), positions = parameters.view("position_embedding/weight")
        PositionEmbedding.backward(inputGradient: nil, tableGradient: positions.gradient, outputGradient: dEmbedded,
                                   batch: context.batch, time: context.time, channels: C, parallelism: threads)
        Embedding.backward(tableGradient: table.gradient, outputGradient: dEmbedded, tokens: tokens, rows: rows,
                           channels: C, parallelism: threads)
        gradientsReady?(parameters.entryRange(before: "blocks/0/"))
    }

    /// The attention probabilities of block `layer` from the last forward, (B, NH, T, T) (needs
    /// `recordsAttention`).
    public func attentionProbabilities(layer: Int) -> FloatBuffer {
        stack.attentions[layer][0].recordedProbabilities
    }
}
