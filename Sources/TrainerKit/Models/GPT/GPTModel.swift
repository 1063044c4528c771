import Foundation

/// The sizes and options of a GPT (nanoGPT-style decoder-only language model).
public struct GPTShape: Sendable, Equatable {
    public var vocabulary: Int
    /// Longest sequence (learned positions).
    public var positions: Int
    public var channels: Int
    public var heads: Int
    public var layers: Int
    public var feedForward: Int
    public var activation: FeedForwardSublayerSpec.Activation
    public var dropout: Float
    /// The LM head reuses the token embedding (nanoGPT's weight tying).
    public var tieEmbeddings: Bool
    public var epsilon: Float

    public init(vocabulary: Int, positions: Int, channels: Int, heads: Int, layers: Int, feedForward: Int,
                activation: FeedForwardSublayerSpec.Activation, dropout: Float, tieEmbeddings: Bool, epsilon: Float = 1e-5) {
        self.vocabulary = vocabulary
        self.positions = positions
        self.channels = channels
        self.heads = heads
        self.layers = layers
        self.feedForward = feedForward
        self.activation = activation
        self.dropout = dropout
        self.tieEmbeddings = tieEmbeddings
        self.epsilon = epsilon
    }

    /// The shape a run config describes, for a tokenizer of `vocabulary` tokens.
    public init(config: RunConfig, vocabulary: Int) throws {
        let m = config.model
        guard let activation = FeedForwardSublayerSpec.Activation(rawValue: m.activation) else {
            throw TrainerError("config: model.activation '\(m.activation)' is not one of gelu, gelu_tanh, relu")
        }
        self.init(vocabulary: vocabulary, positions: config.resolvedPositions, channels: m.channels, heads: m.heads,
                  layers: m.layers, feedForward: m.resolvedFeedForward, activation: activation,
                  dropout: Float(m.dropout), tieEmbeddings: m.tieEmbeddings, epsilon: Float(m.normEpsilon))
    }

    /// Parameter names, shapes and layout (PyTorch module paths with '/' for '.').
    public func layout() -> ParameterLayout {
        var layout = ParameterLayout()
        layout.add("token_embedding/weight", shape: [vocabulary, channels], decays: true)
        layout.add("position_embedding/weight", shape: [positions, channels], decays: true)
        for block in 0 ..< layers {
            let (attention, feedForward) = sublayerSpecs(block)
            attention.declare(in: &layout, channels: channels)
            feedForward.declare(in: &layout, channels: channels, hidden: self.feedForward)
        }
        layout.addLayerNorm("final_norm", channels: channels)
        if !tieEmbeddings { layout.addLinear("lm_head", inputs: channels, outputs: vocabulary, bias: false) }
        return layout
    }

    func sublayerSpecs(_ block: Int) -> (AttentionSublayerSpec, FeedForwardSublayerSpec) {
        let prefix = "blocks/\(block)"
        return (AttentionSublayerSpec(prefix: prefix, norm: "norm1", attention: "attention", kind: .causal),
                FeedForwardSublayerSpec(prefix: prefix, norm: "norm2", activation: activation))
    }

    /// Model FLOPs per trained token (forward + backward), nanoGPT/PaLM's estimate:
    /// 6·N (N = parameters without the position embedding) + 12·layers·channels·T for attention.
    public func flopsPerToken(parameterCount: Int, sequenceLength T: Int) -> Double {
        let nonEmbedding = parameterCount - positions * channels
        return 6 * Double(nonEmbedding) + 12 * Double(layers * channels * T)
    }
}

/// A GPT over a `ParameterStore`: token + learned position embeddings, dropout, N pre-norm blocks
/// (causal self-attention, feed-forward), a final layer norm and the LM head. Activations are
/// allocated once for `limits`; several models (a training one, a sampling one) can share one store.
public final class GPTModel {
    public let shape: GPTShape
    public let parameters: ParameterStore
    public let limits: ActivationLimits
    let blocks: [TransformerBlock]
    let finalNorm: LayerNormLayer
    let head: LinearLayer
    let scratch: BackwardScratch
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

    /// Dropout sites: 0 after the embeddings; block l: 1 + 3l residual after attention,
    /// 2 + 3l attention probabilities, 3 + 3l residual after the feed-forward network.
    public init(shape: GPTShape, limits: ActivationLimits, parameters: ParameterStore? = nil) {
        self.shape = shape
        self.limits = limits
        let store = parameters ?? shape.layout().makeStore()
        self.parameters = store
        let C = shape.channels, rows = limits.rows, V = shape.vocabulary
        blocks = (0 ..< shape.layers).map { l in
            let (attention, feedForward) = shape.sublayerSpecs(l)
            return TransformerBlock(sublayers: [
                AttentionSublayer(attention, store: store, channels: C, heads: shape.heads, epsilon: shape.epsilon,
                                  limits: limits, dropoutSite: 1 + 3 * l, probabilityDropoutSite: 2 + 3 * l),
                FeedForwardSublayer(feedForward, store: store, channels: C, hidden: shape.feedForward,
                                    epsilon: shape.epsilon, limits: limits, dropoutSite: 3 + 3 * l),
            ], channels: C, limits: limits)
        }
        finalNorm = LayerNormLayer(store, "final_norm", channels: C, epsilon: shape.epsilon, rows: rows)
        head = shape.tieEmbeddings
            ? LinearLayer(weight: store.view("token_embedding/weight"), bias: nil, inputs: C, outputs: V)
            : LinearLayer(store, "lm_head", inputs: C, outputs: V, bias: false)
        scratch = BackwardScratch(limits: limits, channels: C, feedForward: shape.feedForward)
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

    deinit {
        tokens.deallocate()
        targets.deallocate()
    }

    /// nanoGPT's initialisation: Linear and embedding weights N(0, 0.02²), the residual projections
    /// (attention output, second feed-forward layer) N(0, (0.02/√(2·layers))²), biases 0, norms 1/0.
    /// Every tensor draws from its own Philox stream, so the result depends only on the seed.
    public func initialize(seed: UInt64) {
        let residualStd = 0.02 / (2 * Double(shape.layers)).squareRoot()
        for (index, entry) in parameters.entries.enumerated() {
            let values = parameters.values.pointer + entry.offset
            let name = entry.name
            if name.hasSuffix("/bias") {
                values.update(repeating: 0, count: entry.count)
            } else if name.contains("norm") {
                values.update(repeating: 1, count: entry.count)
            } else {
                let std = name.hasSuffix("attention/output/weight") || name.hasSuffix("linear2/weight") ? residualStd : 0.02
                let stream = RandomStream(seed: seed, 0x494E_4954, UInt32(index), 0)  // "INIT"
                for i in 0 ..< entry.count { values[i] = Float(stream.normal(i) * std) }
            }
        }
    }

    /// Forward pass over `batch` sequences of `time` tokens (`tokens` (B, T)). With `targets` it
    /// returns the summed cross-entropy and the number of counted targets, and keeps what backward
    /// needs; without, it leaves the logits in `logits`.
    @discardableResult
    public func forward(tokens input: UnsafePointer<Int32>, targets target: UnsafePointer<Int32>?,
                        batch: Int, time: Int, dropout: DropoutContext? = nil,
                        parallelism: Parallelism) -> CrossEntropy.Total? {
        precondition(batch <= limits.batch && time <= limits.time && time <= shape.positions,
                     "GPT forward: (\(batch), \(time)) exceeds the limits \(limits)")
        let context = PassContext(batch: batch, time: time, dropout: dropout, parallelism: parallelism)
        lastContext = context
        let rows = context.rows, C = shape.channels, V = shape.vocabulary
        tokens.update(from: input, count: rows)
        let table = parameters.view("token_embedding/weight"), positions = parameters.view("position_embedding/weight")
        Embedding.forward(output: embedded.pointer, tokens: tokens, table: table.value, rows: rows, channels: C,
                          parallelism: parallelism)
        PositionEmbedding.forward(output: embedded.pointer, input: embedded.readPointer, table: positions.value,
                                  batch: batch, time: time, channels: C, parallelism: parallelism)
        if let dropout {
            Dropout.forward(output: embedded.pointer, input: embedded.readPointer, count: rows * C,
                            probability: dropout.probability, stream: dropout.stream(site: 0), parallelism: parallelism)
        }
        var x = embedded.readPointer
        for block in blocks {
            block.forward(input: x, context: context)
            x = block.output
        }
        finalNorm.forward(output: normalized.pointer, input: x, rows: rows, parallelism)
        head.forward(output: logits.pointer, input: normalized.readPointer, rows: rows, parallelism)
        guard let target else { return nil }
        targets.update(from: target, count: rows)
        return CrossEntropy.forward(losses: losses.pointer, probabilities: logits.pointer, logits: logits.readPointer,
                                    targets: targets, rows: rows, classes: V, parallelism: parallelism)
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
        let rows = context.rows, C = shape.channels, V = shape.vocabulary, threads = context.parallelism
        logitsGradient.pointer.update(repeating: 0, count: rows * V)
        CrossEntropy.backward(logitsGradient: logitsGradient.pointer, probabilities: logits.readPointer, targets: targets,
                              rows: rows, classes: V, scale: lossScale, parallelism: threads)
        let dNormalized = scratch.branch.pointer
        dNormalized.update(repeating: 0, count: rows * C)
        head.backward(inputGradient: dNormalized, outputGradient: logitsGradient.readPointer,
                      input: normalized.readPointer, rows: rows, threads)
        let lastOutput = blocks.last?.output ?? embedded.readPointer
        streamGradient.pointer.update(repeating: 0, count: rows * C)
        finalNorm.backward(inputGradient: streamGradient.pointer, outputGradient: dNormalized, input: lastOutput,
                           rows: rows, threads)
        gradientsReady?(parameters.entryRange(after: "blocks/\(blocks.count - 1)/"))
        for l in blocks.indices.reversed() {
            let input = l == 0 ? embedded.readPointer : blocks[l - 1].output
            blocks[l].backward(streamGradient: streamGradient.pointer, input: input, scratch: scratch, context: context)
            gradientsReady?(parameters.entryRange(prefix: "blocks/\(l)/"))
        }
        // Through the embedding dropout, into both tables.
        var dEmbedded = UnsafePointer(streamGradient.pointer)
        if let dropout = context.dropout {
            let buffer = scratch.branch.pointer
            buffer.update(repeating: 0, count: rows * C)
            Dropout.backward(inputGradient: buffer, outputGradient: streamGradient.readPointer, count: rows * C,
                             probability: dropout.probability, stream: dropout.stream(site: 0), parallelism: threads)
            dEmbedded = UnsafePointer(buffer)
        }
        let table = parameters.view("token_embedding/weight"), positions = parameters.view("position_embedding/weight")
        PositionEmbedding.backward(inputGradient: nil, tableGradient: positions.gradient, outputGradient: dEmbedded,
                                   batch: context.batch, time: context.time, channels: C, parallelism: threads)
        Embedding.backward(tableGradient: table.gradient, outputGradient: dEmbedded, tokens: tokens, rows: rows,
                           channels: C, parallelism: threads)
        gradientsReady?(parameters.entryRange(before: "blocks/0/"))
    }

    /// The attention probabilities of block `layer` from the last forward, (B, NH, T, T).
    public func attentionProbabilities(layer: Int) -> FloatBuffer {
        (blocks[layer].sublayers[0] as! AttentionSublayer).probabilities
    }
}
