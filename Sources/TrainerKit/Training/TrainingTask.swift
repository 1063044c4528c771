/// What the training loop needs from a model and its data, so that one loop trains the GPT and
/// the translator. A task owns its model, its activations and its dataset.
public protocol TrainingTask: AnyObject {
    /// "gpt" or "seq2seq" (the checkpoint's `model_kind`).
    var modelKind: String { get }
    /// The trainable parameters (values and gradients).
    var parameters: ParameterStore { get }
    /// The tokenizer the data was made with (stored in checkpoints).
    var tokenizer: Tokenizer { get }
    /// Initialises the parameters from the seed.
    func initialize(seed: UInt64)
    /// Forward and backward of micro-batch `index` of step `step`: adds the gradient of the summed
    /// loss into `parameters.gradients` and returns the loss total. The data and any dropout
    /// masks depend only on (seed, step, index). `gradientsReady`, if given, is told which parameter
    /// entries have their final gradient as the backward pass goes (see `GPTModel.backward`).
    func trainMicroBatch(step: Int, index: Int, parallelism: Parallelism,
                         gradientsReady: ((Range<Int>) -> Void)?) throws -> CrossEntropy.Total
    /// Forward only (no dropout) on the fixed evaluation micro-batch `index` of `split`. The
    /// total carries the unsmoothed sum too (perplexity), whatever the label smoothing.
    func evaluateMicroBatch(split: TokenDataset.Split, index: Int, parallelism: Parallelism) throws -> CrossEntropy.Total
    /// What training micro-batch `index` of step `step` costs to compute (its model FLOPs, padding
    /// included), known before running it, so that ranks can share a step's micro-batches evenly
    /// (`MicroBatchSchedule`); nil when every micro-batch costs the same.
    func microBatchCost(step: Int, index: Int) throws -> Double?
    /// Model FLOPs (forward + backward) of one training micro-batch, for MFU.
    var flopsPerMicroBatch: Double { get }
    /// Tokens processed by one training micro-batch, for tokens/s.
    var tokensPerMicroBatch: Int { get }
    /// What identifies the training data (compared across ranks at start).
    var dataIdentity: String { get }
    /// Number of evaluation micro-batches of a split.
    func evaluationBatches(_ split: TokenDataset.Split) -> Int
    /// Tokens (all inputs) and model FLOPs of the last `trainMicroBatch`, for tokens/s and MFU.
    var lastMicroBatchTokens: Int { get }
    var lastMicroBatchFLOPs: Double { get }
    /// Writes the tokenizer(s) into a checkpoint's `/tokenizer` group.
    func writeTokenizer(to group: HDF5Group) throws
    /// Throws if a checkpoint's `/tokenizer` differs from the data's.
    func checkTokenizer(against group: HDF5Group, checkpoint: String) throws
    /// Extra evaluation printed and recorded by the task (e.g. BLEU) on `split`, of its first
    /// `limit` items (0: all), computed and returned on every rank.
    func extraEvaluation(split: TokenDataset.Split, limit: Int, communicator: Communicator,
                         parallelism: Parallelism) throws -> [(String, Double)]
    /// What `extraEvaluation` will do, for a line logged before it starts (e.g. "translating 2200
    /// validation pairs (greedy) for BLEU, chrF, CER and WER"); nil when it does nothing.
    func extraEvaluationSummary(split: TokenDataset.Split, limit: Int) -> String?
    /// What `train` shows at the end (rank 0): a GPT's sample of `length` characters (none for 0),
    /// a translator's first validation sentences with their translations.
    func demonstration(length: Int, parallelism: Parallelism) throws -> String?
}

extension TrainingTask {
    public func extraEvaluation(split: TokenDataset.Split, limit: Int, communicator: Communicator,
                                parallelism: Parallelism) throws -> [(String, Double)] { [] }
    public func extraEvaluationSummary(split: TokenDataset.Split, limit: Int) -> String? { nil }
    public func demonstration(length: Int, parallelism: Parallelism) throws -> String? { nil }
    public var dataIdentity: String { "" }
    public func microBatchCost(step: Int, index: Int) throws -> Double? { nil }
    public var lastMicroBatchTokens: Int { tokensPerMicroBatch }
    public var lastMicroBatchFLOPs: Double { flopsPerMicroBatch }

    public func writeTokenizer(to group: HDF5Group) throws { try tokenizer.write(to: group) }

    public func checkTokenizer(against group: HDF5Group, checkpoint: String) throws {
        let stored = try Tokenizers.read(from: group)
        guard stored.matches(tokenizer) else {
            throw TrainerError("the dataset's tokenizer (\(tokenizer.kind), \(tokenizer.count) tokens) differs from the checkpoint's (\(stored.kind), \(stored.count) tokens) in \(checkpoint)")
        }
    }

    /// `trainMicroBatch` without progress reports.
    public func trainMicroBatch(step: Int, index: Int, parallelism: Parallelism) throws -> CrossEntropy.Total {
        try trainMicroBatch(step: step, index: index, parallelism: parallelism, gradientsReady: nil)
    }
}

/// Philox stream names of the training loop.
enum StreamNames {
    static let data: UInt32 = 0x4441_5441  // "DATA"
    static let evaluation: UInt32 = 0x4556_414C  // "EVAL"
}
