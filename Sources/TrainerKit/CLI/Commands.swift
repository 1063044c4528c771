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
        let config = try ConfigLoader.load(path: configPath, overrides: overrides)
        let threads = try threads(config: config, communicator: world)
        let isRoot = world.isRoot
        let log: (String) -> Void = { line in if isRoot { say(line) } }
        // `auto` is decided by rank 0 (the one that reads and writes run_dir) for every rank.
        let checkpoint = config.runDirectory + "/ckpt.h5"
        let resuming = try world.broadcast(resume == .yes || (resume == .auto && FileManager.default.fileExists(atPath: checkpoint))
                                               ? "yes" : "no") == "yes"
        if resume == .auto { log(resuming ? "resuming from \(checkpoint) (--resume auto)" : "no \(checkpoint) yet: starting (--resume auto)") }
        let task = try makeTask(config: config, world: world, log: log)
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

    /// The training task a config describes, preparing its dataset on rank 0 if it is missing.
    static func makeTask(config: RunConfig, world: Communicator, log: (String) -> Void) throws -> TrainingTask {
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
            return try TaskFactory.make(config: config, ranksOnMachine: try world.localSize())
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
                options.maximumLength = config.resolvedModel.positions
                let report = try ParallelPrepare.prepare(inputs: inputs, output: config.data.dataset, options: options)
                log(report.description)
            }
            try world.barrier()
            return try TaskFactory.make(config: config, ranksOnMachine: try world.localSize())
        }
    }

    /// `trainer prepare` for language-model corpora.
    public static func prepare(inputs: [String], output: String, tokenizer: String, validationFraction: Double) throws {
        guard tokenizer == "char" else {
            throw TrainerError("prepare: --tokenizer \(tokenizer) is not available for text corpora yet (use char)")
        }
        let report = try Prepare.prepareLanguageModel(inputs: inputs, output: output, validationFraction: validationFraction,
                                                      progress: ProgressLine(unit: "MB", divisor: 1e6))
        say(Prepare.describe(report))
    }

    /// `trainer sample`: generation from a GPT checkpoint, streamed to standard output.
    public static func sample(checkpoint path: String, prompt: String, options: SamplingOptions, threads: Int) throws {
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
        FileHandle.standardError.write(Data(String(
            format: "sample: %d tokens in %.3f s, %.0f tokens/s (%@%@, %d threads)\n", options.tokens, seconds,
            Double(options.tokens) / max(seconds, 1e-9), options.useCache ? "key/value cache" : "no cache",
            options.contextShift ? ", context shift" : "", threads).utf8))
    }

    /// `trainer eval`: the validation loss and perplexity of a checkpoint on its dataset (or
    /// another with the same tokenizer); for translation also BLEU, chrF, CER and WER.
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

    /// `full`: a GPT's loss over every window of the validation split (a translator's validation
    /// loss always covers every pair).
    public static func evaluate(checkpoint path: String, dataset: String?, beam: Int?, full: Bool = false, threads: Int) throws {
        let checkpoint = try TrainedModel(checkpoint: path)
        var overrides: [String] = []
        if let dataset { overrides.append("data.dataset=\(dataset)") }
        if let beam { overrides.append("eval.beam=\(beam)") }
        var config = try ConfigLoader.load(text: checkpoint.reader.header.config, source: path + " (stored config)",
                                           overrides: overrides)
        config.threads = threads
        guard FileManager.default.fileExists(atPath: config.data.dataset) else {
            throw TrainerError("eval: \(config.data.dataset): no such file (the checkpoint's dataset; pass --dataset)")
        }
        let world = Communicator.world
        let task = try TaskFactory.make(config: config)
        try checkpoint.load(into: task)
        let parallelism = Parallelism(threads: threads)
        var sum = 0.0, count = 0, coverage = "validation"
        if full, let gpt = task as? GPTTask {
            let scores = try gpt.evaluateEveryWindow(split: .val, parallelism: parallelism)
            (sum, count) = (scores.sum, scores.scored)
            coverage = "validation, every target: \(scores.windows) windows of up to \(config.data.blockSize)"
        } else {
            let batches = task.evaluationBatches(.val)
            let progress = ProgressLine(unit: "batches")
            progress.begin("eval", total: Double(batches))
            for index in 0 ..< batches {
                let total = try task.evaluateMicroBatch(split: .val, index: index, parallelism: parallelism)
                sum += total.sum
                count += total.count
                progress.advance()
            }
            progress.end()
            if task is GPTTask { coverage = "validation, \(batches) batches of random windows" }
        }
        let loss = sum / Double(max(count, 1))
        var line = String(format: "%@ at step %d on %@ (%@, %d targets): loss %.6f, perplexity %.4f", path,
                          checkpoint.reader.header.step, config.data.dataset, coverage, count, loss, exp(loss))
        for (name, value) in try task.extraEvaluation(step: checkpoint.reader.header.step, communicator: world, parallelism: parallelism) {
            line += String(format: ", %@ %.2f", name, name == "cer" || name == "wer" ? value * 100 : value)
            if name == "cer" || name == "wer" { line += "%" }
        }
        say(line)
    }
}
