/// The dataset and the batch sizes.
public struct DataConfig: Codable, Sendable, Equatable {
    /// HDF5 dataset made by `trainer prepare`.
    public var dataset = "data/shakespeare_char.h5"
    /// Text file(s) to prepare the dataset from when it is missing; "" means the built-in Shakespeare corpus
    /// (`builtin:shakespeare.txt`, which also works in a list).
    public var corpus = ""
    /// Sequences per optimizer step, over all ranks.
    public var batchSize = 12
    /// Sequences per forward/backward pass; divides `batch_size`. The default, 3, gives 4
    /// micro-batches per step, so the default run works on 1, 2 or 4 ranks.
    public var microBatchSize = 3
    /// Tokens per training sequence (gpt; a seq2seq model's lengths come from its sentences, see
    /// `model.positions`).
    public var blockSize = 64

    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataset, corpus
        case batchSize = "batch_size"
        case microBatchSize = "micro_batch_size"
        case blockSize = "block_size"
    }

    /// The default data settings.
    public init() {}

    /// Forward/backward passes per optimizer step, over all ranks: `batch_size / micro_batch_size`.
    public var microBatchesPerStep: Int { batchSize / microBatchSize }
}
