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
    /// Parameters per all-reduce bucket (PyTorch DDP's `bucket_cap_mb`, in values): a bucket starts
    /// when the backward pass has finished all of its tensors, so smaller buckets start earlier and
    /// overlap more of the backward, at the cost of more MPI calls. Any size gives the same bits.
    public var bucketParameters = 1 << 17
    /// Steps between the check that every rank holds the same parameters (a checksum compared
    /// across ranks; a mismatch stops the job naming the ranks); 0 turns it off.
    public var syncCheckInterval = 100
    /// Seconds a rank waits for the others at a step's check-ins (its start, and the end of its
    /// micro-batches) before it stops the job naming the late rank (stopped, hung, or on a stuck
    /// file system); 0: automatic, 20 × the median step time and at least 300 s.
    public var watchdogSeconds = 0.0
    /// Steps between log lines.
    public var logInterval = 1
    /// OpenBLAS kernel family: `auto` (the fastest this CPU runs, overriding an inherited
    /// `OPENBLAS_CORETYPE`), `inherit` (keep the environment's), or a name such as `SkylakeX`.
    /// Applied at start-up, before the config is otherwise read (see `BLASKernel`).
    public var blasKernel = "auto"
    /// Number format of the matrix products: `fp32`, `bf16` (bf16 inputs, fp32 accumulation; needs
    /// avx512_bf16) or `auto` (bf16 where the CPU has native bf16 products).
    public var precision = PrecisionChoice.fp32
    /// Write a per-rank timeline of a window of steps to `run_dir/trace.json` (Chrome trace-event
    /// JSON for Perfetto or chrome://tracing; README "Reading a trace"); `trainer train --trace`.
    public var trace = false
    /// Steps run before the trace window opens, counted from the step the run starts at (0, or the
    /// step resumed): the first steps pay for first-touch page faults and cold caches.
    public var traceSkipSteps = 10
    /// Steps in the trace window.
    public var traceSteps = 10

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, data, optimizer, schedule, eval, checkpoint, seed
        case runDirectory = "run_dir"
        case threads, reduction
        case overlapReduction = "overlap_reduction"
        case bucketParameters = "bucket_parameters"
        case syncCheckInterval = "sync_check_interval"
        case watchdogSeconds = "watchdog_seconds"
        case logInterval = "log_interval"
        case blasKernel = "blas_kernel"
        case precision
        case trace
        case traceSkipSteps = "trace_skip_steps"
        case traceSteps = "trace_steps"
    }

    /// The default configuration.
    public init() {}

    /// The model's sizes with the derived ones filled in (`ModelConfig.resolved`).
    public var resolvedModel: ModelConfig { model.resolved(blockSize: data.blockSize) }
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
                    "model.positions (\(model.positions)) must be positive, or 0 for "
                        + (model.kind == .seq2seq ? "the longest sequence of the dataset" : "data.block_size"))
        try require((0 ..< 1).contains(model.dropout), "model.dropout (\(model.dropout)) must be in [0, 1)")
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
        // A translation model's lengths come from its sentences, not from block_size.
        try require(model.kind == .seq2seq || data.blockSize <= resolvedModel.positions,
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
        try require(eval.batches > 0 && eval.batches <= 1_000_000, "eval.batches (\(eval.batches)) must be in 1 ... 1,000,000")
        try require(eval.beam > 0, "eval.beam (\(eval.beam)) must be positive (1 for greedy decoding)")
        try require(eval.lengthPenalty >= 0 && eval.lengthPenalty.isFinite, "eval.length_penalty (\(eval.lengthPenalty)) must be 0 or more")
        try require(eval.decodePairs >= 0, "eval.decode_pairs (\(eval.decodePairs)) must be positive, or 0 for the whole validation split")
        try require(checkpoint.interval >= 0,
                    "checkpoint.interval (\(checkpoint.interval)) must be positive, or 0 for only at the end")
        try require(checkpoint.keep >= 1, "checkpoint.keep (\(checkpoint.keep)) must be at least 1")

        // run
        try require(seed >= 0, "seed (\(seed)) must be 0 or positive")
        try require(!runDirectory.isEmpty, "run_dir is empty; give the directory for checkpoints and logs")
        try require(threads >= 0, "threads (\(threads)) must be positive, or 0 for cores / ranks")
        try require(logInterval > 0, "log_interval (\(logInterval)) must be positive")
        try require(watchdogSeconds >= 0 && watchdogSeconds.isFinite,
                    "watchdog_seconds (\(watchdogSeconds)) must be positive, or 0 for automatic")
        try require(syncCheckInterval >= 0, "sync_check_interval (\(syncCheckInterval)) must be positive, or 0 for no check")
        try require(traceSkipSteps >= 0, "trace_skip_steps (\(traceSkipSteps)) must be 0 or positive")
        try require((1024 ... 1 << 30).contains(bucketParameters),
                    "bucket_parameters (\(bucketParameters)) must be in 1024 ... 1073741824")
        try require((1 ... 10_000).contains(traceSteps), "trace_steps (\(traceSteps)) must be in 1 ... 10,000")
        try require(!trace || traceSkipSteps < schedule.maxSteps,
                    "trace_skip_steps (\(traceSkipSteps)) must be below schedule.max_steps (\(schedule.maxSteps)), or the trace window never opens")
        do { _ = try BLASKernel.Choice(blasKernel) } catch let error as TrainerError { throw TrainerError("config: " + error.message) }
    }

    private func require(_ condition: Bool, _ problem: @autoclosure () -> String) throws {
        if !condition { throw TrainerError("config: " + problem()) }
    }
}

// MARK: - Schema

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
