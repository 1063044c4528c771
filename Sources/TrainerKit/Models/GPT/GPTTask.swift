/// Training a GPT on an "lm" dataset.
public final class GPTTask: TrainingTask {
    public let modelKind = "gpt"
    public let model: GPTModel
    public let dataset: TokenDataset
    public var parameters: ParameterStore { model.parameters }
    public var tokenizer: Tokenizer { dataset.tokenizer }
    let seed: UInt64
    let sequences: Int, time: Int, dropout: Float, evaluationBatchCount: Int
    let inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>

    public init(config: RunConfig, dataset: TokenDataset) throws {
        let m = config.model
        sequences = config.data.microBatchSize
        time = config.data.blockSize
        dropout = Float(m.dropout)
        evaluationBatchCount = config.eval.batches
        seed = UInt64(config.seed)
        self.dataset = dataset
        model = GPTModel(config: config.resolvedModel, vocabulary: dataset.tokenizer.count,
                         limits: ActivationLimits(batch: sequences, time: time))
        model.precision = try config.precision.resolved()
        inputs = alignedAllocate(Int32.self, count: sequences * time)
        targets = alignedAllocate(Int32.self, count: sequences * time)
    }

    deinit {
        inputs.deallocate()
        targets.deallocate()
    }

    public func initialize(seed: UInt64) { model.initialize(seed: seed) }

    public var dataIdentity: String { dataset.identity }

    public func evaluationBatches(_ split: TokenDataset.Split) -> Int { evaluationBatchCount }

    public func checkTokenizer(against group: HDF5Group, checkpoint: String) throws {
        let stored = try Tokenizers.read(from: group)
        guard stored.matches(tokenizer) else {
            throw TrainerError("\(dataset.path): its tokenizer (\(tokenizer.kind), \(tokenizer.count) tokens) differs from the checkpoint's (\(stored.kind), \(stored.count) tokens); prepare the text with trainer prepare --tokenizer-from \(checkpoint)")
        }
    }

    public var tokensPerMicroBatch: Int { sequences * time }

    public var flopsPerMicroBatch: Double {
        model.flopsPerToken(sequenceLength: time) * Double(tokensPerMicroBatch)
    }

    public func trainMicroBatch(step: Int, index: Int, parallelism: Parallelism,
                                gradientsReady: ((Range<Int>) -> Void)?) throws -> CrossEntropy.Total {
        let stream = RandomStream(seed: seed, StreamNames.data, UInt32(index), UInt32(truncatingIfNeeded: step))
        try dataset.sample(.train, sequences: sequences, length: time, stream: stream, inputs: inputs, targets: targets)
        let context = dropout > 0 ? DropoutContext(seed: seed, step: step, microBatch: index, probability: dropout) : nil
        let forward = Timeline.begin(.forward, index: index)
        let total = model.forward(tokens: inputs, targets: targets, batch: sequences, time: time, dropout: context,
                                  parallelism: parallelism)!
        Timeline.end(forward)
        let backward = Timeline.begin(.backward, index: index)
        model.backward(lossScale: 1, gradientsReady: gradientsReady)
        Timeline.end(backward)
        return total
    }

    public func evaluateMicroBatch(split: TokenDataset.Split, index: Int, parallelism: Parallelism) throws -> CrossEntropy.Total {
        let splitIndex: UInt32 = split == .train ? 0 : 1
        let stream = RandomStream(seed: seed, StreamNames.evaluation, splitIndex, UInt32(index))
        try dataset.sample(split, sequences: sequences, length: time, stream: stream, inputs: inputs, targets: targets)
        return model.forward(tokens: inputs, targets: targets, batch: sequences, time: time, parallelism: parallelism)!
    }

    /// The loss over every window of `split` (`eval --full`): consecutive windows of block_size
    /// tokens, each target scored once (`TextEvaluation.score`), instead of `eval.batches` random ones.
    public func evaluateEveryWindow(split: TokenDataset.Split, parallelism: Parallelism)
        throws -> (sum: Double, scored: Int, windows: Int) {
        let count = dataset.counts[split]!
        guard count >= 2 else { throw TrainerError("\(dataset.path): the \(split.rawValue) split has \(count) tokens") }
        return try TextEvaluation.score(count: count, read: { range in
            var tokens = [Int32](repeating: 0, count: range.count)
            try tokens.withUnsafeMutableBufferPointer {
                try dataset.read(split, offset: range.lowerBound, count: range.count, into: $0.baseAddress!)
            }
            return tokens
        }, model: model, window: time, parallelism: parallelism, progress: ProgressLine(unit: "windows"))
    }

    /// A sample of `length` tokens after a newline, from a copy of the model sized for one sequence.
    public func demonstration(length: Int, parallelism: Parallelism) throws -> String? {
        guard length > 0 else { return nil }
        let sampler = GPTModel(config: model.config, vocabulary: model.vocabulary,
                               limits: ActivationLimits(batch: 1, time: model.config.positions), parameters: parameters)
        let tokens = Sampler.generate(model: sampler, prompt: tokenizer.encode("\n"), options: SamplingOptions(tokens: length),
                                      parallelism: parallelism)
        return "sample:\n" + tokenizer.decode(tokens)
    }
}
