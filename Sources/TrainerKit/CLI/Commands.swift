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

    /// `trainer train`: prepares the dataset if it is missing (rank 0), trains, checkpoints, and
    /// prints a short sample at the end.
    public static func train(configPath: String?, overrides: [String], resume: Bool, sampleTokens: Int = 300) throws {
        let world = Communicator.world
        let config = try ConfigLoader.load(path: configPath, overrides: overrides)
        let threads = try threads(config: config, communicator: world)
        let isRoot = world.isRoot
        let log: (String) -> Void = { line in if isRoot { say(line) } }
        let task = try makeTask(config: config, world: world, log: log)
        let trainer = try Trainer(config: config, task: task, communicator: world, threads: threads, resume: resume, log: log)
        let summary = try trainer.run()
        log(String(format: "done: %d steps in %.1f s, val loss %.4f, checkpoint %@", summary.steps, summary.seconds,
                   summary.finalValidationLoss ?? .nan, summary.checkpoint))
        if world.isRoot, let text = try task.demonstration(length: sampleTokens, parallelism: Parallelism(threads: threads)) {
            log(text)
        }
    }

    /// `trainer prepare` for language-model corpora.
    public static func prepare(inputs: [String], output: String, tokenizer: String, validationFraction: Double) throws {
        guard tokenizer == "char" else {
            throw TrainerError("prepare: --tokenizer \(tokenizer) is not available for text corpora yet (use char)")
        }
        let report = try Prepare.prepareLanguageModel(inputs: inputs, output: output, validationFraction: validationFraction,
                                                      progress: .init())
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
        _ = Sampler.generate(model: model, prompt: ids, options: options, parallelism: Parallelism(threads: threads)) { token in
            FileHandle.standardOutput.write(Data(tokenizer.decode([token]).utf8))
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}

extension Prepare {
    /// One line about a finished `prepare`.
    public static func describe(_ report: Report) -> String {
        String(format: "prepared %@: %d tokens in the vocabulary, %d train + %d val tokens, %.1f MB in %.2f s (%.1f MB/s end to end; tokenizing alone %.0f MB/s on one core)",
               report.output, report.vocabulary, report.trainTokens, report.validationTokens, Double(report.bytes) / 1e6,
               report.seconds, Double(report.bytes) / 1e6 / max(report.seconds, 1e-9),
               Double(report.bytes) / 1e6 / max(report.tokenizingSeconds, 1e-9))
    }
}
