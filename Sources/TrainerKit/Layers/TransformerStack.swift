/// The blocks of a Transformer, built, declared and run from one description, shared by the GPT
/// (one decoder-only stack) and the encoder–decoder (an encoder stack and a decoder stack).
///
/// Block l of a stack under `prefix` holds, by kind:
/// - `.causal` (GPT): `norm1`, causal self-`attention`, `norm2`, `feed_forward`;
/// - `.encoder`: `norm1`, bidirectional self-`attention`, `norm2`, `feed_forward`;
/// - `.decoder`: `norm1`, causal `self_attention`, `norm2`, `cross_attention` over the encoder
///   output, `norm3`, `feed_forward`.
public final class TransformerStack {
    public enum Kind: Sendable { case causal, encoder, decoder }

    /// One sublayer of a block, in forward order.
    enum Part {
        case attention(AttentionSublayerSpec)
        case feedForward(FeedForwardSublayerSpec)
    }

    /// The sublayers of block `layer`.
    static func parts(_ kind: Kind, prefix: String, layer: Int, activation: Activation) -> [Part] {
        let block = "\(prefix)/\(layer)"
        switch kind {
        case .causal, .encoder:
            return [.attention(AttentionSublayerSpec(prefix: block, norm: "norm1", attention: "attention",
                                                     kind: kind == .causal ? .causal : .bidirectional)),
                    .feedForward(FeedForwardSublayerSpec(prefix: block, norm: "norm2", activation: activation))]
        case .decoder:
            return [.attention(AttentionSublayerSpec(prefix: block, norm: "norm1", attention: "self_attention", kind: .causal)),
                    .attention(AttentionSublayerSpec(prefix: block, norm: "norm2", attention: "cross_attention", kind: .cross)),
                    .feedForward(FeedForwardSublayerSpec(prefix: block, norm: "norm3", activation: activation))]
        }
    }

    /// Declares every block's parameters, block by block.
    static func declare(_ kind: Kind, prefix: String, config: ModelConfig, in layout: inout ParameterLayout) {
        for layer in 0 ..< config.layers {
            for part in parts(kind, prefix: prefix, layer: layer, activation: config.activation) {
                switch part {
                case .attention(let spec): spec.declare(in: &layout, channels: config.channels)
                case .feedForward(let spec): spec.declare(in: &layout, channels: config.channels, hidden: config.feedForward)
                }
            }
        }
    }

    let prefix: String
    public let blocks: [TransformerBlock]
    /// The attention sublayers of each block (self-attention, then cross-attention in a decoder).
    public let attentions: [[AttentionSublayer]]

    /// Builds the blocks over `store` for activations up to `limits`, declaring their dropout
    /// sites in order (per sublayer: residual, then attention probabilities).
    init(_ kind: Kind, prefix: String, config: ModelConfig, store: ParameterStore, limits: ActivationLimits,
         sites: inout DropoutSites) {
        self.prefix = prefix
        let C = config.channels, epsilon = Float(config.normEpsilon)
        var blocks: [TransformerBlock] = [], attentions: [[AttentionSublayer]] = []
        for layer in 0 ..< config.layers {
            var sublayers: [ResidualSublayer] = [], blockAttentions: [AttentionSublayer] = []
            for part in TransformerStack.parts(kind, prefix: prefix, layer: layer, activation: config.activation) {
                switch part {
                case .attention(let spec):
                    let residual = sites.declare(spec.attentionName + "/residual")
                    let probabilities = sites.declare(spec.attentionName + "/probabilities")
                    let attention = AttentionSublayer(spec, store: store, channels: C, heads: config.heads, epsilon: epsilon,
                                                      limits: limits, dropoutSite: residual, probabilityDropoutSite: probabilities)
                    sublayers.append(attention)
                    blockAttentions.append(attention)
                case .feedForward(let spec):
                    let residual = sites.declare(spec.networkName + "/residual")
                    sublayers.append(FeedForwardSublayer(spec, store: store, channels: C, hidden: config.feedForward,
                                                         epsilon: epsilon, limits: limits, dropoutSite: residual))
                }
            }
            blocks.append(TransformerBlock(sublayers: sublayers, channels: C, limits: limits))
            attentions.append(blockAttentions)
        }
        self.blocks = blocks
        self.attentions = attentions
    }

    /// Runs the blocks on `input` (rows, C); returns the last block's output (`input` if there are none).
    func forward(input: UnsafePointer<Float>, memory: UnsafePointer<Float>? = nil, context: PassContext) -> UnsafePointer<Float> {
        var x = input
        for block in blocks {
            block.forward(input: x, memory: memory, context: context)
            x = block.output
        }
        return x
    }

    /// One decoding step (`DecodingCache`): `input` (B, C) holds each row's new position, at
    /// position `cache.length`, which the step then counts. Returns the last block's output.
    func step(input: UnsafePointer<Float>, memory: UnsafePointer<Float>? = nil, context: PassContext,
              cache: DecodingCache) -> UnsafePointer<Float> {
        var x = input
        for (layer, block) in blocks.enumerated() {
            block.step(input: x, memory: memory, context: context, cache: cache, layer: layer)
            x = block.output
        }
        cache.length += 1
        return x
    }

    /// Before stepping a decoder: each cross-attention projects the memory to keys and values once.
    func prepareMemory(_ memory: UnsafePointer<Float>, context: PassContext) {
        for attention in attentions.joined() { attention.prepareMemory(memory, context: context) }
    }

    /// After a forward pass over whole prefixes: their keys and values fill `cache`.
    func storeKeysValues(into cache: DecodingCache, context: PassContext) {
        for (layer, blockAttentions) in attentions.enumerated() {
            blockAttentions.first { $0.spec.kind == .causal }?.storeKeysValues(into: cache, layer: layer, context: context)
        }
        cache.length = context.time
    }

    /// The output of the last `forward` (`input` if there are no blocks).
    func output(input: UnsafePointer<Float>) -> UnsafePointer<Float> { blocks.last?.output ?? input }

    /// Backward through the blocks, last first: on entry `streamGradient` is d loss / d output, on
    /// return d loss / d input. After each block, `gradientsReady` gets its parameter entries.
    func backward(streamGradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                  memory: UnsafePointer<Float>? = nil, memoryGradient: UnsafeMutablePointer<Float>? = nil,
                  scratch: BackwardScratch, context: PassContext, parameters: ParameterStore,
                  gradientsReady: ((Range<Int>) -> Void)?) {
        for l in blocks.indices.reversed() {
            let blockInput = l == 0 ? input : blocks[l - 1].output
            blocks[l].backward(streamGradient: streamGradient, input: blockInput, memory: memory,
                               memoryGradient: memoryGradient, scratch: scratch, context: context)
            gradientsReady?(parameters.entryRange(prefix: "\(prefix)/\(l)/"))
        }
    }
}
