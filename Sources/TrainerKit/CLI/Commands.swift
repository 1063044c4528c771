import Foundation

/// What the command-line front end calls: each subcommand as one function over the library.
public enum Commands {
    /// Prints to standard output (callers decide which rank prints).
    @Sendable static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Kernel threads per rank: `threads` from the config, else `OPENBLAS_NUM_THREADS`, else the
    /// machine's cores divided by the ranks on it.
    public static func threads(config: RunConfig, communicator: Communicator) throws -> Int {
        if config.threads > 0 { return config.threads }
        if let text = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"], let value = Int(text), value > 0 {
            return value
        }
        return max(1, CPU.cores / max(1, try communicator.localSize()))
    }

    /// Whether `train` continues from run_dir/ckpt.h5.
    public enum Resume: String, CaseIterable, Sendable {
        /// Start from the seed (refused over an existing checkpoint unless overwriting).
        case no
        /// Continue from the checkpoint, which must exist.
        case yes
        /// Continue if the checkpoint exists, else start (a requeued job's mode).
        case auto
    }

    /// A run stopped by SIGTERM or SIGINT after writing its checkpoint: the process should exit
    /// with `128 + signal`.
    public struct Stopped: Error {
        public var signal: Int32
        public var exitCode: Int32 { 128 + signal }
    }

    /// `trainer train`: prepares the dataset if it is missing (rank 0), trains, checkpoints, and
    /// prints a short sample at the end. SIGTERM / SIGINT stop it at the next step with a
    /// checkpoint (`StopSignal`), and it throws `Stopped`.
    public static func train(configPath: String?, overrides: [String], resume: Resume = .no, overwrite: Bool = false,
                             sampleTokens: Int = 300) throws {
        StopSignal.install()
        let world = Communicator.world
        let loaded = try ConfigLoader.load(path: configPath, overrides: overrides)
        let threads = try threads(config: loaded, communicator: world)
        let isRoot = world.isRoot
        let log: (String) -> Void = { line in if isRoot { say(line) } }
        // `auto` is decided by rank 0 (the one that reads and writes run_dir) for every rank.
        let checkpoint = loaded.runDirectory + "/ckpt.h5"
        let resuming = try world.broadcast(resume == .yes || (resume == .auto && FileManager.default.fileExists(atPath: checkpoint))
                                               ? "yes" : "no") == "yes"
        if resume == .auto { log(resuming ? "resuming from \(checkpoint) (--resume auto)" : "no \(checkpoint) yet: starting (--resume auto)") }
        let (config, task) = try makeTask(config: loaded, world: world, log: log)
        let trainer = try Trainer(config: config, task: task, communicator: world, threads: threads, resume: resuming,
                                  overwrite: overwrite, log: log)
        let summary = try trainer.run()
        if let signal = summary.stopSignal {
            log("stopped by \(StopSignal.name(signal)) at step \(trainer.step) after \(summary.steps) steps; checkpoint \(summary.checkpoint) (continue with --resume)")
            throw Stopped(signal: signal)
        }
        log(String(format: "done: %d steps in %.1f s, val loss %.6f, checkpoint %@", summary.steps, summary.seconds,
                   summary.finalValidationLoss ?? .nan, summary.checkpoint))
        if world.isRoot, let text = try task.demonstration(length: sampleTokens, parallelism: Parallelism(threads: threads)) {
            log(text)
        }
    }

    /// The training task a config describes, preparing its dataset on rank 0 if it is missing, and
    /// the config resolved against the data (`TaskFactory.resolve`), which the trainer stores.
    static func makeTask(config: RunConfig, world: Communicator, log: (String) -> Void) throws
        -> (config: RunConfig, task: TrainingTask) {
        let exists = FileManager.default.fileExists(atPath: config.data.dataset)
        // A missing dataset is built from data.corpus, or from the built-in corpus at its own
        // default path only: a mistyped path must not quietly train on Shakespeare.
        let builtIn = config.model.kind == .gpt ? "data/shakespeare_char.h5" : "data/toy_en_it.h5"
        if !exists && config.data.corpus.isEmpty && config.data.dataset != builtIn {
            throw TrainerError("data.dataset \(config.data.dataset): no such file; make it with `trainer prepare`, set data.corpus to build it from text, or use \(builtIn) for the built-in corpus")
        }
        switch config.model.kind {
        case .gpt:
            if world.isRoot && !exists {
                let corpus = config.data.corpus.isEmpty ? [BuiltinCorpus.shakespeareName]
                                                        : config.data.corpus.split(separator: ",").map(String.init)
                log("preparing \(config.data.dataset) from \(corpus.joined(separator: ", "))")
                let report = try Prepare.prepareLanguageModel(inputs: corpus, output: config.data.dataset, progress: ProgressLine(unit: "MB", divisor: 1e6))
                log(Prepare.describe(report))
            }
            try world.barrier()
            return (config, try TaskFactory.make(config: config, ranksOnMachine: try world.localSize()))
        case .seq2seq:
            if world.isRoot && !exists {
                var inputs = config.data.corpus.split(separator: ",").map(String.init)
                var temporary: String?
                if inputs.isEmpty {
                    // The built-in English → Italian toy task.
                    let path = FileManager.default.temporaryDirectory.appendingPathComponent("toy-en-it-\(getpid()).tsv").path
                    try (ToyTranslation.corpus(count: 22_000).joined(separator: "\n") + "\n")
                        .write(toFile: path, atomically: true, encoding: .utf8)
                    inputs = [path]
                    temporary = path
                }
                defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
                log("preparing \(config.data.dataset) from \(temporary == nil ? inputs.joined(separator: ", ") : "the built-in English → Italian toy corpus")")
                var options = ParallelPrepareOptions()
                // positions 0 follows the data: keep pairs up to prepare's own default length.
                if config.model.positions > 0 { options.maximumLength = config.model.positions }
                let report = try ParallelPrepare.prepare(inputs: inputs, output: config.data.dataset, options: options)
                log(report.description)
            }
            try world.barrier()
            let resolved = try TaskFactory.resolve(config)
            if config.model.positions == 0 {
                log("model.positions 0: \(resolved.model.positions), the longest sequence of \(config.data.dataset) with [SOS]/[EOS]")
            }
            return (resolved, try TaskFactory.make(config: resolved, ranksOnMachine: try world.localSize()))
        }
    }

    /// `trainer prepare` for language-model corpora.
    /// `tokenizerFrom`: a GPT checkpoint whose tokenizer the dataset uses (`--tokenizer-from`).
    public static func prepare(inputs: [String], output: String, tokenizer: String, validationFraction: Double,
                               tokenizerFrom: String? = nil) throws {
        guard tokenizer == "char" else {
            throw TrainerError("prepare: --tokenizer \(tokenizer) is not available for text corpora yet (use char)")
        }
        var given: CharTokenizer?
        if let tokenizerFrom {
            let trained = try TrainedModel(checkpoint: tokenizerFrom)
            try trained.require(.gpt, for: "prepare --tokenizer-from")
            let stored = try trained.reader.tokenizer()
            guard let chars = stored as? CharTokenizer else {
                throw TrainerError("prepare --tokenizer-from \(tokenizerFrom): its tokenizer is '\(stored.kind)'; text corpora take a char tokenizer")
            }
            given = chars
        }
        let report = try Prepare.prepareLanguageModel(inputs: inputs, output: output, validationFraction: validationFraction,
                                                      tokenizer: given, progress: ProgressLine(unit: "MB", divisor: 1e6))
        say(Prepare.describe(report))
    }

    /// `trainer sample`: generation from a GPT checkpoint, streamed to standard output.
    /// `timing`: the speed on standard error at the end.
    public static func sample(checkpoint path: String, prompt: String, options: SamplingOptions, timing: Bool = false,
                              threads: Int) throws {
        let (model, tokenizer) = try TrainedModel(checkpoint: path).gpt(for: "sample")
        var ids = tokenizer.encode(prompt)
        if ids.count < prompt.unicodeScalars.count {
            throw TrainerError("sample: the prompt has characters outside the checkpoint's vocabulary")
        }
        if ids.isEmpty { ids = tokenizer.encode("\n") }
        FileHandle.standardOutput.write(Data(prompt.utf8))
        let start = DispatchTime.now().uptimeNanoseconds
        _ = Sampler.generate(model: model, prompt: ids, options: options, parallelism: Parallelism(threads: threads)) { token in
            FileHandle.standardOutput.write(Data(tokenizer.decode([token]).utf8))
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard timing else { return }
        FileHandle.standardError.write(Data(String(
            format: "sample: %d tokens in %.3f s, %.0f tokens/s (%@%@, %d threads)\n", options.tokens, seconds,
            Double(options.tokens) / max(seconds, 1e-9), options.useCache ? "key/value cache" : "no cache",
            options.contextShift ? ", context shift" : "", threads).utf8))
    }

    /// `trainer eval --text FILE...`: a GPT checkpoint's loss, perplexity and bits per character on
    /// any text (`TextEvaluation`).
    public static func evaluateText(checkpoint path: String, files: [String], threads: Int) throws {
        let trained = try TrainedModel(checkpoint: path)
        try trained.require(.gpt, for: "eval --text")
        let tokenizer = try trained.reader.tokenizer()
        let sizes = trained.config.resolvedModel
        let window = min(sizes.positions, trained.config.data.blockSize)
        let model = GPTModel(config: sizes, vocabulary: tokenizer.count, limits: ActivationLimits(batch: 8, time: window))
        try trained.reader.loadParameters(into: model.parameters)
        let result = try TextEvaluation.run(files: files, model: model, tokenizer: tokenizer, window: window,
                                            parallelism: Parallelism(threads: threads))
        say("\(path) at step \(trained.reader.header.step) on " + result.describe(files: files, window: window))
    }

    /// `trainer eval`: the loss and perplexity of a checkpoint on a split (validation, or test) of
    /// its dataset, found from any folder (`TrainedModel.datasetPath`), or of `dataset` (with the
    /// same tokenizer); for translation also BLEU, chrF, CER and WER of every pair of the split.
    /// A GPT is scored on `eval.batches` batches of random windows, or with `full` on every window
    /// of the split (a translator's loss always covers every pair).
    public static func evaluate(checkpoint path: String, dataset: String?, split: TokenDataset.Split = .val, beam: Int?,
                                full: Bool = false, threads: Int) throws {
        let checkpoint = try TrainedModel(checkpoint: path)
        var overrides: [String] = []
        if let beam { overrides.append("eval.beam=\(beam)") }
        var config = try ConfigLoader.load(text: checkpoint.reader.header.config, source: path + " (stored config)",
                                           overrides: overrides)
        config.threads = threads
        if let dataset {
            guard FileManager.default.fileExists(atPath: dataset) else { throw TrainerError("eval: --dataset \(dataset): no such file") }
            config.data.dataset = dataset
        } else {
            config.data.dataset = try checkpoint.datasetPath(for: "eval")
        }
        if split == .test {
            guard config.model.kind == .seq2seq else {
                throw TrainerError("eval --split test: \(path) is a '\(config.model.kind.rawValue)' checkpoint; only translation datasets have a test split")
            }
            guard try ParallelDataset(path: config.data.dataset).hasTestSplit else {
                throw TrainerError("eval --split test: \(config.data.dataset) has no test split; prepare it with --test-fraction (or score a file with --pairs)")
            }
        }
        // Checkpoints written before positions 0 was resolved at training time.
        config = try TaskFactory.resolve(config)
        let world = Communicator.world
        let task = try TaskFactory.make(config: config)
        try checkpoint.load(into: task)
        let parallelism = Parallelism(threads: threads)
        var total = CrossEntropy.Total(), coverage = ""
        if full, let gpt = task as? GPTTask {
            let scores = try gpt.evaluateEveryWindow(split: split, parallelism: parallelism)
            total = CrossEntropy.Total(sum: scores.sum, count: scores.scored)
            coverage = " in \(scores.windows) windows of up to \(config.data.blockSize) (every target once)"
        } else {
            let batches = task.evaluationBatches(split)
            let progress = ProgressLine(unit: "batches")
            progress.begin("eval", total: Double(batches))
            for index in 0 ..< batches {
                total = total + (try task.evaluateMicroBatch(split: split, index: index, parallelism: parallelism))
                progress.advance()
            }
            progress.end()
            if task is GPTTask { coverage = " in \(batches) batches of random windows (eval --full: every target)" }
        }
        let name = split == .val ? "validation" : split.rawValue
        var line = "\(path) at step \(checkpoint.reader.header.step) on \(config.data.dataset) (\(name)): "
            + describeLoss(total, labelSmoothing: config.model.labelSmoothing)
        if let summary = task.extraEvaluationSummary(split: split, limit: 0) {
            FileHandle.standardError.write(Data("eval: \(summary) ...\n".utf8))
        }
        line += describeScores(try task.extraEvaluation(split: split, limit: 0, communicator: world, parallelism: parallelism))
        say(line + "; \(total.count) targets" + coverage)
    }

    /// "loss 2.034567, perplexity 7.6500", or with label smoothing "loss 3.045678 (label smoothing
    /// 0.1), unsmoothed loss 2.034567, perplexity 7.6500 (21.0234 smoothed)": the loss is the one
    /// training minimises, the perplexity always exp of the plain cross-entropy.
    static func describeLoss(_ total: CrossEntropy.Total, labelSmoothing: Double) -> String {
        let loss = total.mean, plain = total.unsmoothedMean
        guard labelSmoothing > 0 else { return String(format: "loss %.6f, perplexity %.4f", loss, exp(plain)) }
        return String(format: "loss %.6f (label smoothing %g), unsmoothed loss %.6f, perplexity %.4f (%.4f smoothed)",
                      loss, labelSmoothing, plain, exp(plain), exp(loss))
    }

    /// ", bleu 12.34, chrf 45.67, cer 12.34%, wer 23.45%" (nothing for no scores).
    static func describeScores(_ scores: [(String, Double)]) -> String {
        scores.map { name, value in
            name == "cer" || name == "wer" ? String(format: ", %@ %.2f%%", name, value * 100) : String(format: ", %@ %.2f", name, value)
        }.joined()
    }
}
