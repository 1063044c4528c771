import Foundation

/// Training the encoder–decoder on a "parallel" dataset.
///
/// Micro-batches are bucketed by length: the training pairs are sorted by length and cut into
/// buckets of 16 micro-batches' worth; micro-batch i of step s draws a bucket and then its pairs
/// from the Philox stream of (seed, s, i), so it depends on nothing else (not on the ranks). Each
/// micro-batch is padded only to its own longest sentence, so micro-batches differ in cost, and
/// the trainer shares them out by cost (`microBatchCost`, `MicroBatchSchedule`).
public final class Seq2SeqTask: TrainingTask {
    public let modelKind = "seq2seq"
    public let model: Seq2SeqModel
    public let dataset: ParallelDataset
    public var parameters: ParameterStore { model.parameters }
    public var tokenizer: Tokenizer { dataset.targetTokenizer }
    let config: RunConfig
    let seed: UInt64
    let sequences: Int
    let dropout: Float
    let buckets: [[Int]]  // training pair indices, by length
    public private(set) var lastMicroBatchTokens = 0
    public private(set) var lastMicroBatchFLOPs = 0.0

    /// The task of `config` over `dataset`; `model.positions` must be resolved already
    /// (`TaskFactory.resolve`: 0 becomes the dataset's longest sequence).
    public init(config: RunConfig, dataset: ParallelDataset) throws {
        self.config = config
        self.dataset = dataset
        let sizes = config.resolvedModel
        guard config.model.positions > 0 else {
            throw TrainerError("config: model.positions 0 must be resolved from \(dataset.path) before the model is built (TaskFactory.resolve)")
        }
        let longest = dataset.longestSequence
        guard longest <= sizes.positions else {
            throw TrainerError("config: model.positions (\(sizes.positions)) is shorter than the longest sequence of \(dataset.path) (\(longest) tokens with [SOS]/[EOS]); raise model.positions, or set it to 0 to follow the data")
        }
        sequences = config.data.microBatchSize
        seed = UInt64(config.seed)
        dropout = Float(config.model.dropout)
        model = Seq2SeqModel(config: sizes, sourceVocabulary: dataset.sourceTokenizer.count,
                             targetVocabulary: dataset.targetTokenizer.count, batch: sequences, sourceLength: longest,
                             targetLength: longest)
        model.precision = try config.precision.resolved()
        let order = (0 ..< dataset.counts[.train]!).sorted {
            let a = max(dataset.length(.train, .source, $0), dataset.length(.train, .target, $0))
            let b = max(dataset.length(.train, .source, $1), dataset.length(.train, .target, $1))
            return a != b ? a < b : $0 < $1
        }
        let size = sequences * 16
        buckets = stride(from: 0, to: order.count, by: size).map { Array(order[$0 ..< min(order.count, $0 + size)]) }
    }

    public func initialize(seed: UInt64) { model.initialize(seed: seed) }

    public var dataIdentity: String { dataset.identity }

    /// Per-micro-batch sizes vary with the sentences; these report the last one's.
    public var tokensPerMicroBatch: Int { lastMicroBatchTokens }
    public var flopsPerMicroBatch: Double { lastMicroBatchFLOPs }

    public func writeTokenizer(to group: HDF5Group) throws { try dataset.tokenizers.write(to: group) }

    public func checkTokenizer(against group: HDF5Group, checkpoint: String) throws {
        let stored = try TokenizerPair(from: group)
        guard stored.matches(dataset.tokenizers) else {
            throw TrainerError("\(dataset.path): its tokenizers (\(dataset.sourceTokenizer.kind), \(dataset.sourceTokenizer.count) + \(dataset.targetTokenizer.count) tokens) differ from the checkpoint's (\(stored.source.kind), \(stored.source.count) + \(stored.target.count) tokens)")
        }
    }

    /// Pads pairs into encoder and decoder inputs and runs forward (and backward with `train`).
    private func run(_ pairs: [([Int32], [Int32])], dropout: DropoutContext?, train: Bool, parallelism: Parallelism,
                     gradientsReady: ((Range<Int>) -> Void)?) -> CrossEntropy.Total {
        let padded = Seq2SeqBatch(pairs, source: dataset.sourceTokenizer.specials!, target: dataset.targetTokenizer.specials!)
        let total = padded.forward(model, dropout: dropout, parallelism: parallelism)
        let (S, T, sourceTokens, targetTokens) = (padded.sourceLength, padded.targetLength, padded.sourceTokens, padded.targetTokens)
        if train { model.backward(lossScale: 1, gradientsReady: gradientsReady) }
        lastMicroBatchTokens = sourceTokens + targetTokens
        lastMicroBatchFLOPs = model.flops(sourceTokens: Double(sourceTokens), targetTokens: Double(targetTokens),
                                                sourceLength: Double(S), targetLength: Double(T))
        return total
    }

    /// The training pairs of micro-batch `index` of step `step`: a length bucket, then `sequences`
    /// pairs from it, drawn from the Philox stream of (seed, step, index).
    func trainingPairs(step: Int, index: Int) -> [Int] {
        let stream = RandomStream(seed: seed, StreamNames.data, UInt32(index), UInt32(truncatingIfNeeded: step))
        let bucket = buckets[stream.integer(0, below: buckets.count)]
        return (0 ..< sequences).map { j in bucket[stream.integer(1 + j, below: bucket.count)] }
    }

    /// The model FLOPs of the padded micro-batch (every row padded to the longest source and
    /// target), which is what the kernels compute.
    public func microBatchCost(step: Int, index: Int) throws -> Double? {
        let pairs = trainingPairs(step: step, index: index)
        let S = pairs.map { dataset.length(.train, .source, $0) + 2 }.max()!
        let T = pairs.map { dataset.length(.train, .target, $0) + 1 }.max()!
        let B = Double(pairs.count)
        return model.flops(sourceTokens: B * Double(S), targetTokens: B * Double(T), sourceLength: Double(S),
                           targetLength: Double(T))
    }

    public func trainMicroBatch(step: Int, index: Int, parallelism: Parallelism,
                                gradientsReady: ((Range<Int>) -> Void)?) throws -> CrossEntropy.Total {
        let pairs = try trainingPairs(step: step, index: index).map { pair in
            (try dataset.sentence(.train, .source, pair), try dataset.sentence(.train, .target, pair))
        }
        let context = dropout > 0 ? DropoutContext(seed: seed, step: step, microBatch: index, probability: dropout) : nil
        return run(pairs, dropout: context, train: true, parallelism: parallelism, gradientsReady: gradientsReady)
    }

    /// Validation (and test) is the whole split, in order, `micro_batch_size` pairs at a time; the
    /// training split is estimated on `eval.batches` such batches.
    public func evaluationBatches(_ split: TokenDataset.Split) -> Int {
        let all = (dataset.counts[split]! + sequences - 1) / sequences
        return split == .train ? min(all, config.eval.batches) : all
    }

    public func evaluateMicroBatch(split: TokenDataset.Split, index: Int, parallelism: Parallelism) throws -> CrossEntropy.Total {
        let count = dataset.counts[split]!
        // Training split: spread the batches over the whole split.
        let first = split != .train ? index * sequences : (index * count / max(1, evaluationBatches(.train)))
        let pairs = try (first ..< min(count, first + sequences)).map {
            (try dataset.sentence(split, .source, $0), try dataset.sentence(split, .target, $0))
        }
        guard !pairs.isEmpty else { return CrossEntropy.Total() }
        return run(pairs, dropout: nil, train: false, parallelism: parallelism, gradientsReady: nil)
    }

    /// How many pairs of `split` `extraEvaluation` translates: the first `limit` (0: all).
    func translatedPairs(_ split: TokenDataset.Split, limit: Int) -> Int {
        let count = dataset.counts[split]!
        return limit > 0 ? min(limit, count) : count
    }

    public func extraEvaluationSummary(split: TokenDataset.Split, limit: Int) -> String? {
        let count = translatedPairs(split, limit: limit), all = dataset.counts[split]!
        guard count > 0 else { return nil }
        let name = split == .val ? "validation" : split.rawValue
        let which = count < all ? "the first \(count) of \(all) \(name) pairs" : "\(count) \(name) pairs"
        let search = config.eval.beam > 1 ? "beam \(config.eval.beam)" : "greedy"
        return "translating \(which) (\(search)) for BLEU, chrF, CER and WER"
    }

    /// BLEU, chrF, CER and WER of the first `limit` pairs of `split` (0: all), translated with
    /// `eval.beam` (greedy when 1), each rank translating a share; computed and returned on every rank.
    public func extraEvaluation(split: TokenDataset.Split, limit: Int, communicator: Communicator,
                                parallelism: Parallelism) throws -> [(String, Double)] {
        let count = translatedPairs(split, limit: limit)
        guard count > 0 else { return [] }
        let references = Array(try dataset.texts(split, .target).prefix(count))
        let W = communicator.size, r = communicator.rank
        let mine = (r * count / W) ..< ((r + 1) * count / W)
        let translator = Translator(config: model.config, parameters: parameters, sourceTokenizer: dataset.sourceTokenizer,
                                    targetTokenizer: dataset.targetTokenizer,
                                    batch: max(sequences, config.eval.beam) * max(1, config.eval.beam), parallelism: parallelism)
        let sources = try mine.map { try dataset.sentence(split, .source, $0) }
        let outputs = translator.translateInLengthOrder(ids: sources, beam: config.eval.beam, lengthPenalty: config.eval.lengthPenalty)
            .map { dataset.targetTokenizer.decode($0) }
        // Gather every rank's translations on all ranks, in rank order.
        var hypotheses: [String] = []
        for root in 0 ..< W {
            let joined = try communicator.broadcast(outputs.joined(separator: "\n"), root: root)
            let share = (root * count / W) ..< ((root + 1) * count / W)
            hypotheses += share.isEmpty ? [] : joined.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }
        return TranslationMetrics.scores(hypotheses: hypotheses, references: references)
    }

    /// The first five validation sentences with their (greedy) translations and references.
    public func demonstration(length: Int, parallelism: Parallelism) throws -> String? {
        let count = min(5, dataset.counts[.val]!)
        guard count > 0 else { return nil }
        let sources = try dataset.texts(.val, .source).prefix(count), references = try dataset.texts(.val, .target).prefix(count)
        let translator = Translator(config: model.config, parameters: parameters, sourceTokenizer: dataset.sourceTokenizer,
                                    targetTokenizer: dataset.targetTokenizer, batch: 8, parallelism: parallelism)
        return zip(sources, zip(translator.translate(Array(sources)), references)).map { source, pair in
            "  \(source)\n  → \(pair.0)\n    (reference: \(pair.1))"
        }.joined(separator: "\n")
    }
}
