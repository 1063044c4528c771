/// The kind of network.
public enum ModelKind: String, Codable, Sendable, CaseIterable, ConfigChoice {
    /// Decoder-only language model (GPT-2 / nanoGPT).
    case gpt
    /// Encoder-decoder (the original Transformer), for translation-like tasks.
    case seq2seq

    /// Decodes one of the cases, or throws an error that lists them.
    public init(from decoder: any Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}

/// The network's kind and sizes (nanoGPT's `GPTConfig`).
public struct ModelConfig: Codable, Sendable, Equatable {
    /// `gpt` (decoder only) or `seq2seq` (encoder-decoder).
    public var kind = ModelKind.gpt
    /// Transformer blocks (n_layer); for `seq2seq`, the encoder's and the decoder's each.
    public var layers = 4
    /// Attention heads per block (n_head).
    public var heads = 4
    /// Width of the residual stream (d_model, n_embd).
    public var channels = 128
    /// Hidden width of the feed-forward MLP; 0 means 4·channels.
    public var feedForward = 0
    /// Longest sequence the model supports (size of the position table). 0: for `gpt`,
    /// `data.block_size`; for `seq2seq`, the longest sequence of the dataset, [SOS]/[EOS] included
    /// (the encoder reads [SOS] source [EOS], the decoder [SOS] target), found when training starts
    /// and stored resolved in the checkpoint and run_dir/config.yaml.
    public var positions = 0
    /// Dropout probability, in [0, 1).
    public var dropout = 0.0
    /// The MLP's nonlinearity: `gelu` (exact), `gelu_tanh` (GPT-2's approximation) or `relu`.
    public var activation = Activation.gelu
    /// GPT: the LM head shares the token embedding's weights (nanoGPT's weight tying).
    public var tieEmbeddings = true
    /// The epsilon of every LayerNorm.
    public var normEpsilon = 1e-5
    /// Label smoothing of the cross-entropy loss, in [0, 1).
    public var labelSmoothing = 0.0

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, layers, heads, channels
        case feedForward = "feed_forward"
        case positions, dropout, activation
        case tieEmbeddings = "tie_embeddings"
        case normEpsilon = "norm_epsilon"
        case labelSmoothing = "label_smoothing"
    }

    /// The default model.
    public init() {}

    /// The sizes a model is built with: `feed_forward` 0 becomes 4·channels, `positions` 0
    /// becomes `blockSize` (`data.block_size`). A seq2seq model's `positions` 0 is resolved from
    /// its dataset before this (`TaskFactory.resolve`); `blockSize` is then only the fallback of
    /// checkpoints written before that existed.
    public func resolved(blockSize: Int) -> ModelConfig {
        var model = self
        if model.feedForward == 0 { model.feedForward = 4 * channels }
        if model.positions == 0 { model.positions = blockSize }
        return model
    }
}
