/// Everything that defines a training run, as read from a YAML (or JSON) file and `--set` overrides.
///
/// Every field has a default, so a config file gives only what differs from it. File keys are
/// snake_case (`data.batch_size`); the Swift names are camelCase (`data.batchSize`). Decoding fills
/// missing keys with the defaults; `ConfigLoader` rejects unknown keys and calls `validate()`.
public struct RunConfig: Codable, Sendable, Equatable {
    /// The network: which kind and its sizes.
    public var model = ModelConfig()
    /// The dataset and how it is cut into batches.
    public var data = DataConfig()
    /// AdamW.
    public var optimizer = OptimizerConfig()
    /// The learning-rate schedule: linear warm-up, cosine decay to `min_lr`, and the length of the run.
    public var schedule = ScheduleConfig()
    /// Evaluation on the validation split.
    public var eval = EvalConfig()
    /// Checkpoints written to `run_dir`.
    public var checkpoint = CheckpointConfig()
    /// Seed of every random stream: initialization, data order, dropout.
    public var seed = 1337
    /// Directory of the run's checkpoints and log.
    public var runDirectory = "runs/default"
    /// Kernel threads per rank; 0 means the cores of this machine divided by the ranks on it.
    public var threads = 0
    /// How gradients are summed over ranks: `exact` (the same bits for any number of ranks) or `float`.
    public var reduction = Reduction.exact
    /// Start each bucket's all-reduce while the backward pass is still running on earlier layers.
    public var overlapReduction = true
    /// Steps between the check that every rank holds the same parameters (a checksum compared
    /// across ranks; a mismatch stops the job naming the ranks); 0 turns it off.
    public var syncCheckInterval = 100
    /// Steps between log lines.
    public var logInterval = 1
    /// OpenBLAS kernel family: `auto` (the fastest this CPU runs, overriding an inherited
    /// `OPENBLAS_CORETYPE`), `inherit` (keep the environment's), or a name such as `SkylakeX`.
    /// Applied at start-up, before the config is otherwise read (see `BLASKernel`).
    public var blasKernel = "auto"

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, data, optimizer, schedule, eval, checkpoint, seed
        case runDirectory = "run_dir"
        case threads, reduction
        case overlapReduction = "overlap_reduction"
        case syncCheckInterval = "sync_check_interval"
        case logInterval = "log_interval"
        case blasKernel = "blas_kernel"
    }

    /// The default configuration.
    public init() {}

    /// Decodes the keys present and keeps the defaults for the others.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decodeIfPresent(ModelConfig.self, forKey: .model) ?? model
        data = try container.decodeIfPresent(DataConfig.self, forKey: .data) ?? data
        optimizer = try container.decodeIfPresent(OptimizerConfig.self, forKey: .optimizer) ?? optimizer
        schedule = try container.decodeIfPresent(ScheduleConfig.self, forKey: .schedule) ?? schedule
        eval = try container.decodeIfPresent(EvalConfig.self, forKey: .eval) ?? eval
        checkpoint = try container.decodeIfPresent(CheckpointConfig.self, forKey: .checkpoint) ?? checkpoint
        seed = try container.decodeIfPresent(Int.self, forKey: .seed) ?? seed
        runDirectory = try container.decodeIfPresent(String.self, forKey: .runDirectory) ?? runDirectory
        threads = try container.decodeIfPresent(Int.self, forKey: .threads) ?? threads
        reduction = try container.decodeIfPresent(Reduction.self, forKey: .reduction) ?? reduction
        overlapReduction = try container.decodeIfPresent(Bool.self, forKey: .overlapReduction) ?? overlapReduction
        syncCheckInterval = try container.decodeIfPresent(Int.self, forKey: .syncCheckInterval) ?? syncCheckInterval
        logInterval = try container.decodeIfPresent(Int.self, forKey: .logInterval) ?? logInterval
        blasKernel = try container.decodeIfPresent(String.self, forKey: .blasKernel) ?? blasKernel
    }

    /// The longest sequence the model supports: `model.positions`, or `data.block_size` when that is 0.
    public var resolvedPositions: Int { model.positions == 0 ? data.blockSize : model.positions }
}

/// The kind of network.
public enum ModelKind: String, Codable, Sendable, CaseIterable, ConfigChoice {
    /// Decoder-only language model (GPT-2 / nanoGPT).
    case gpt
    /// Encoder-decoder (the original Transformer), for translation-like tasks.
    case seq2seq

    /// Decodes one of the cases, or throws an error that lists them.
    public init(from decoder: any Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}

/// How the gradient all-reduce sums over ranks.
public enum Reduction: String, Codable, Sendable, CaseIterable, ConfigChoice {
    /// Sums in a fixed order and precision, so the result does not depend on the number of ranks.
    case exact
    /// MPI's own float sum: faster, but the bits depend on the number of ranks.
    case float

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
    /// Longest sequence the model supports (size of the position table); 0 means `data.block_size`.
    public var positions = 0
    /// Dropout probability, in [0, 1).
    public var dropout = 0.0
    /// The MLP's nonlinearity: `gelu` (exact), `gelu_tanh` (GPT-2's approximation) or `relu`.
    public var activation = "gelu"
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

    /// Decodes the keys present and keeps the defaults for the others.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try container.decodeIfPresent(ModelKind.self, forKey: .kind) ?? kind
        layers = try container.decodeIfPresent(Int.self, forKey: .layers) ?? layers
        heads = try container.decodeIfPresent(Int.self, forKey: .heads) ?? heads
        channels = try container.decodeIfPresent(Int.self, forKey: .channels) ?? channels
        feedForward = try container.decodeIfPresent(Int.self, forKey: .feedForward) ?? feedForward
        positions = try container.decodeIfPresent(Int.self, forKey: .positions) ?? positions
        dropout = try container.decodeIfPresent(Double.self, forKey: .dropout) ?? dropout
        activation = try container.decodeIfPresent(String.self, forKey: .activation) ?? activation
        tieEmbeddings = try container.decodeIfPresent(Bool.self, forKey: .tieEmbeddings) ?? tieEmbeddings
        normEpsilon = try container.decodeIfPresent(Double.self, forKey: .normEpsilon) ?? normEpsilon
        labelSmoothing = try container.decodeIfPresent(Double.self, forKey: .labelSmoothing) ?? labelSmoothing
    }

    /// The MLP's hidden width: `feed_forward`, or 4·channels when that is 0.
    public var resolvedFeedForward: Int { feedForward == 0 ? 4 * channels : feedForward }
}

/// The dataset and the batch sizes.
public struct DataConfig: Codable, Sendable, Equatable {
    /// HDF5 dataset made by `trainer prepare`.
    public var dataset = "data/shakespeare_char.h5"
    /// Text file(s) to prepare the dataset from when it is missing; "" means the built-in Shakespeare corpus.
    public var corpus = ""
    /// Sequences per optimizer step, over all ranks.
    public var batchSize = 12
    /// Sequences per forward/backward pass; divides `batch_size`. The default, 3, gives 4
    /// micro-batches per step, so the default run works on 1, 2 or 4 ranks.
    public var microBatchSize = 3
    /// Tokens per training sequence.
    public var blockSize = 64

    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataset, corpus
        case batchSize = "batch_size"
        case microBatchSize = "micro_batch_size"
        case blockSize = "block_size"
    }

    /// The default data settings.
    public init() {}

    /// Decodes the keys present and keeps the defaults for the others.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        dataset = try container.decodeIfPresent(String.self, forKey: .dataset) ?? dataset
        corpus = try container.decodeIfPresent(String.self, forKey: .corpus) ?? corpus
        batchSize = try container.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        microBatchSize = try container.decodeIfPresent(Int.self, forKey: .microBatchSize) ?? microBatchSize
        blockSize = try container.decodeIfPresent(Int.self, forKey: .blockSize) ?? blockSize
    }

    /// Forward/backward passes per optimizer step, over all ranks: `batch_size / micro_batch_size`.
    public var microBatchesPerStep: Int { batchSize / microBatchSize }
}

/// AdamW's hyperparameters and gradient clipping.
public struct OptimizerConfig: Codable, Sendable, Equatable {
    /// Peak learning rate (reached at the end of the warm-up).
    public var lr = 1e-3
    /// Decay rate of the first-moment estimate.
    public var beta1 = 0.9
    /// Decay rate of the second-moment estimate.
    public var beta2 = 0.99
    /// Added to the square root of the second moment.
    public var eps = 1e-8
    /// Decoupled weight decay, applied to the matrices (not to biases, norms).
    public var weightDecay = 0.1
    /// Largest global L2 norm of the gradient; larger ones are scaled down to it. 0 disables clipping.
    public var gradClip = 1.0

    enum CodingKeys: String, CodingKey, CaseIterable {
        case lr, beta1, beta2, eps
        case weightDecay = "weight_decay"
        case gradClip = "grad_clip"
    }

    /// The default optimizer.
    public init() {}

    /// Decodes the keys present and keeps the defaults for the others.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        lr = try container.decodeIfPresent(Double.self, forKey: .lr) ?? lr
        beta1 = try container.decodeIfPresent(Double.self, forKey: .beta1) ?? beta1
        beta2 = try container.decodeIfPresent(Double.self, forKey: .beta2) ?? beta2
        eps = try container.decodeIfPresent(Double.self, forKey: .eps) ?? eps
        weightDecay = try container.decodeIfPresent(Double.self, forKey: .weightDecay) ?? weightDecay
        gradClip = try container.decodeIfPresent(Double.self, forKey: .gradClip) ?? gradClip
    }
}

/// The learning-rate schedule and the length of the run.
public struct ScheduleConfig: Codable, Sendable, Equatable {
    /// Steps of linear warm-up from 0 to `optimizer.lr`.
    public var warmup = 100
    /// Optimizer steps of the whole run.
    public var maxSteps = 2000
    /// Step at which the cosine decay reaches `min_lr` (constant after); 0 means `max_steps`.
    public var decaySteps = 0
    /// Learning rate at the end of the decay.
    public var minLR = 1e-4

    enum CodingKeys: String, CodingKey, CaseIterable {
        case warmup
        case maxSteps = "max_steps"
        case decaySteps = "decay_steps"
        case minLR = "min_lr"
    }

    /// The default schedule.
    public init() {}

    /// Decodes the keys present and keeps the defaults for the others.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        warmup = try container.decodeIfPresent(Int.self, forKey: .warmup) ?? warmup
        maxSteps = try container.decodeIfPresent(Int.self, forKey: .maxSteps) ?? maxSteps
        decaySteps = try container.decodeIfPresent(Int.self, forKey: .decaySteps) ?? decaySteps
        minLR = try container.decodeIfPresent(Double.self, forKey: .minLR) ?? minLR
    }

    /// The step at which the cosine decay ends: `decay_steps`, or `max_steps` when that is 0.
    public var resolvedDecaySteps: Int { decaySteps == 0 ? maxSteps : decaySteps }
}

/// When and how much to evaluate.
public struct EvalConfig: Codable, Sendable, Equatable {
    /// Steps between evaluations; 0 means only at the end of the run.
    public var interval = 250
    /// Micro-batches per split per evaluation (a translation model evaluates its whole validation
    /// split, and this many batches of the training split).
    public var batches = 50
    /// Translation: the beam size used for BLEU at each evaluation (1: greedy decoding).
    public var beam = 1
    /// Translation: the length-penalty exponent α of beam search, ((5 + length)/6)^α (GNMT).
    public var lengthPenalty = 0.6

    enum CodingKeys: String, CodingKey, CaseIterable {
        case interval, batches, beam
        case lengthPenalty = "length_penalty"
    }

    /// The default evaluation settings.
    public init() {}

    /// Decodes the keys present and keeps the defaults for the others.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        interval = try container.decodeIfPresent(Int.self, forKey: .interval) ?? interval
        batches = try container.decodeIfPresent(Int.self, forKey: .batches) ?? batches
        beam = try container.decodeIfPresent(Int.self, forKey: .beam) ?? beam
        lengthPenalty = try container.decodeIfPresent(Double.self, forKey: .lengthPenalty) ?? lengthPenalty
    }
}

/// When to write checkpoints and how many to keep.
public struct CheckpointConfig: Codable, Sendable, Equatable {
    /// Steps between checkpoints (one is always written at the end); 0 means only at the end.
    public var interval = 1000
    /// How many checkpoints to keep in `run_dir`, newest first; at least 1.
    public var keep = 1

    enum CodingKeys: String, CodingKey, CaseIterable {
        case interval, keep
    }

    /// The default checkpoint settings.
    public init() {}

    /// Decodes the keys present and keeps the defaults for the others.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        interval = try container.decodeIfPresent(Int.self, forKey: .interval) ?? interval
        keep = try container.decodeIfPresent(Int.self, forKey: .keep) ?? keep
    }
}

// MARK: - Validation

extension RunConfig {
    /// Checks the values against each other and against their ranges.
    ///
    /// - Throws: `TrainerError` naming the first offending key, its value, and what is expected,
    ///   e.g. `config: data.batch_size (12) is not divisible by data.micro_batch_size (5)`.
    public func validate() throws {
        // model
        try require(model.layers > 0, "model.layers (\(model.layers)) must be positive")
        try require(model.heads > 0, "model.heads (\(model.heads)) must be positive")
        try require(model.channels > 0, "model.channels (\(model.channels)) must be positive")
        try require(model.channels % model.heads == 0,
                    "model.channels (\(model.channels)) is not divisible by model.heads (\(model.heads))")
        try require(model.feedForward >= 0,
                    "model.feed_forward (\(model.feedForward)) must be positive, or 0 for 4·model.channels")
        try require(model.positions >= 0,
                    "model.positions (\(model.positions)) must be positive, or 0 for data.block_size")
        try require((0 ..< 1).contains(model.dropout), "model.dropout (\(model.dropout)) must be in [0, 1)")
        let activations = FeedForwardSublayerSpec.Activation.allCases.map(\.rawValue)
        try require(activations.contains(model.activation),
                    "model.activation ('\(model.activation)') must be one of \(activations.joined(separator: ", "))")
        try require(model.normEpsilon > 0 && model.normEpsilon.isFinite,
                    "model.norm_epsilon (\(model.normEpsilon)) must be positive")
        try require((0 ..< 1).contains(model.labelSmoothing),
                    "model.label_smoothing (\(model.labelSmoothing)) must be in [0, 1)")

        // data
        try require(!data.dataset.isEmpty, "data.dataset is empty; give the path of an HDF5 dataset")
        try require(data.batchSize > 0, "data.batch_size (\(data.batchSize)) must be positive")
        try require(data.microBatchSize > 0, "data.micro_batch_size (\(data.microBatchSize)) must be positive")
        try require(data.batchSize % data.microBatchSize == 0,
                    "data.batch_size (\(data.batchSize)) is not divisible by data.micro_batch_size (\(data.microBatchSize))")
        try require(data.blockSize > 0, "data.block_size (\(data.blockSize)) must be positive")
        try require(data.blockSize <= resolvedPositions,
                    "data.block_size (\(data.blockSize)) is larger than model.positions (\(model.positions))")

        // optimizer
        try require(optimizer.lr > 0 && optimizer.lr.isFinite, "optimizer.lr (\(optimizer.lr)) must be positive")
        try require((0 ..< 1).contains(optimizer.beta1), "optimizer.beta1 (\(optimizer.beta1)) must be in [0, 1)")
        try require((0 ..< 1).contains(optimizer.beta2), "optimizer.beta2 (\(optimizer.beta2)) must be in [0, 1)")
        try require(optimizer.eps > 0 && optimizer.eps.isFinite, "optimizer.eps (\(optimizer.eps)) must be positive")
        try require(optimizer.weightDecay >= 0 && optimizer.weightDecay.isFinite,
                    "optimizer.weight_decay (\(optimizer.weightDecay)) must be 0 or positive")
        try require(optimizer.gradClip >= 0 && optimizer.gradClip.isFinite,
                    "optimizer.grad_clip (\(optimizer.gradClip)) must be positive, or 0 to disable clipping")

        // schedule
        try require(schedule.warmup >= 0, "schedule.warmup (\(schedule.warmup)) must be 0 or positive")
        try require(schedule.maxSteps > 0, "schedule.max_steps (\(schedule.maxSteps)) must be positive")
        try require(schedule.decaySteps >= 0,
                    "schedule.decay_steps (\(schedule.decaySteps)) must be positive, or 0 for schedule.max_steps")
        try require(schedule.minLR >= 0 && schedule.minLR <= optimizer.lr,
                    "schedule.min_lr (\(schedule.minLR)) must be in [0, optimizer.lr (\(optimizer.lr))]")

        // eval, checkpoint
        try require(eval.interval >= 0, "eval.interval (\(eval.interval)) must be positive, or 0 for only at the end")
        try require(eval.batches > 0, "eval.batches (\(eval.batches)) must be positive")
        try require(eval.beam > 0, "eval.beam (\(eval.beam)) must be positive (1 for greedy decoding)")
        try require(eval.lengthPenalty >= 0 && eval.lengthPenalty.isFinite, "eval.length_penalty (\(eval.lengthPenalty)) must be 0 or more")
        try require(checkpoint.interval >= 0,
                    "checkpoint.interval (\(checkpoint.interval)) must be positive, or 0 for only at the end")
        try require(checkpoint.keep >= 1, "checkpoint.keep (\(checkpoint.keep)) must be at least 1")

        // run
        try require(seed >= 0, "seed (\(seed)) must be 0 or positive")
        try require(!runDirectory.isEmpty, "run_dir is empty; give the directory for checkpoints and logs")
        try require(threads >= 0, "threads (\(threads)) must be positive, or 0 for cores / ranks")
        try require(logInterval > 0, "log_interval (\(logInterval)) must be positive")
        try require(syncCheckInterval >= 0, "sync_check_interval (\(syncCheckInterval)) must be positive, or 0 for no check")
        do { _ = try BLASKernel.Choice(blasKernel) } catch let error as TrainerError { throw TrainerError("config: " + error.message) }
    }

    private func require(_ condition: Bool, _ problem: @autoclosure () -> String) throws {
        if !condition { throw TrainerError("config: " + problem()) }
    }
}

// MARK: - Schema

/// The keys a config mapping may hold at one level, in file order, and which of them are sections
/// (nested mappings) with keys of their own. Derived from the structs' `CodingKeys`, so the structs
/// stay the one source of truth; `ConfigLoader` uses it to reject unknown keys.
struct ConfigSchema: Sendable {
    /// The file keys at this level.
    var keys: [String]
    /// The keys among `keys` whose values are mappings, with their schemas.
    var sections: [String: ConfigSchema] = [:]

    init<Key: CodingKey & CaseIterable & Hashable>(_: Key.Type, sections: [Key: ConfigSchema] = [:]) {
        keys = Key.allCases.map(\.stringValue)
        self.sections = Dictionary(uniqueKeysWithValues: sections.map { ($0.key.stringValue, $0.value) })
    }
}

extension RunConfig {
    /// The keys of a config file.
    static let schema = ConfigSchema(CodingKeys.self, sections: [
        .model: ConfigSchema(ModelConfig.CodingKeys.self),
        .data: ConfigSchema(DataConfig.CodingKeys.self),
        .optimizer: ConfigSchema(OptimizerConfig.CodingKeys.self),
        .schedule: ConfigSchema(ScheduleConfig.CodingKeys.self),
        .eval: ConfigSchema(EvalConfig.CodingKeys.self),
        .checkpoint: ConfigSchema(CheckpointConfig.CodingKeys.self),
    ])
}

/// A string enum of a config file, whose bad values decode to an error listing the choices.
protocol ConfigChoice: RawRepresentable<String>, CaseIterable {}

extension ConfigChoice {
    /// Decodes one of the cases; otherwise throws `DecodingError.dataCorrupted` whose description
    /// is "expected one of ..." (`ConfigLoader` puts it in its message as is).
    static func decodeChoice(from decoder: any Decoder) throws -> Self {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Self(rawValue: text) else {
            let choices = allCases.map(\.rawValue).joined(separator: ", ")
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected one of \(choices)")
        }
        return value
    }
}
