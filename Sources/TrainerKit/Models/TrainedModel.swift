import Foundation

/// A checkpoint opened after training: the one way from `ckpt.h5` to a model ready to use, for
/// `sample`, `translate`, `attention` and `eval`. The model is rebuilt from the run config stored
/// in the checkpoint and the tokenizer(s) stored with it, then its parameters are read.
public struct TrainedModel {
    public let path: String
    public let reader: Checkpoint.Reader
    /// The run config the checkpoint was trained with.
    public let config: RunConfig

    public init(checkpoint path: String) throws {
        self.path = path
        reader = try Checkpoint.Reader(path: path)
        config = try ConfigLoader.load(text: reader.header.config, source: path + " (stored config)")
    }

    /// Throws unless the checkpoint holds a `kind` model, naming `command`.
    func require(_ kind: ModelKind, for command: String) throws {
        guard reader.header.modelKind == kind.rawValue else {
            throw TrainerError("\(path): a '\(reader.header.modelKind)' checkpoint; \(command) needs a \(kind.rawValue) one (use \(kind == .gpt ? "translate" : "sample"))")
        }
    }

    /// A GPT for generation (one sequence of up to the model's positions) and its tokenizer.
    public func gpt(for command: String) throws -> (model: GPTModel, tokenizer: Tokenizer) {
        try require(.gpt, for: command)
        let tokenizer = try reader.tokenizer()
        let sizes = config.resolvedModel
        let model = GPTModel(config: sizes, vocabulary: tokenizer.count, limits: ActivationLimits(batch: 1, time: sizes.positions))
        try reader.loadParameters(into: model.parameters)
        return (model, tokenizer)
    }

    /// A translator decoding up to `batch` rows at a time (sentences × beam).
    public func translator(batch: Int, threads: Int, for command: String) throws -> Translator {
        try require(.seq2seq, for: command)
        let tokenizers = try TokenizerPair(from: reader.file.group("tokenizer"))
        let sizes = config.resolvedModel
        let store = Seq2SeqModel.layout(sizes, sourceVocabulary: tokenizers.source.count,
                                        targetVocabulary: tokenizers.target.count).makeStore()
        try reader.loadParameters(into: store)
        return Translator(config: sizes, parameters: store, sourceTokenizer: tokenizers.source,
                          targetTokenizer: tokenizers.target, batch: batch, parallelism: Parallelism(threads: threads))
    }

    /// The dataset the checkpoint was trained on, found from any folder: the first of
    /// `Checkpoint.Reader.datasetCandidates` that exists.
    /// - Throws: one line naming the dataset, every path tried, and `--dataset`.
    public func datasetPath(for command: String) throws -> String {
        let typed = config.data.dataset
        let candidates = reader.datasetCandidates(typed: typed, runDirectory: config.runDirectory)
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw TrainerError("\(command): the checkpoint's dataset \(typed) is not found (tried \(candidates.joined(separator: ", "))); pass --dataset PATH")
    }

    /// Loads the parameters into `task` (built from this config, possibly on other data), after
    /// checking that the task's tokenizer is the checkpoint's.
    public func load(into task: TrainingTask) throws {
        try task.checkTokenizer(against: reader.file.group("tokenizer"), checkpoint: path)
        try reader.loadParameters(into: task.parameters)
    }
}
