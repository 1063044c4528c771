import Foundation

/// `trainer bench step`: full training steps (forward, backward, exact gradient sum, clip, AdamW)
/// of a config's model (GPT or translator) on synthetic data, reporting ms/step, tokens/s (all
/// input tokens: source + target for translation) and MFU against the machine's peak measured at
/// start-up with the same threads (`MachinePeak`).
public enum StepBench {
    public struct Result: Sendable {
        public var ranks: Int
        public var threads: Int
        public var millisecondsPerStep: Double
        public var tokensPerSecond: Double
        public var mfu: Double
        /// The machine's peak for these threads (the denominator of MFU) and how it was measured.
        public var peak: MachinePeak
        public var parameters: Int
        /// Share of the step spent in the gradient all-reduce (MPI calls), on rank 0.
        public var allreduceShare: Double
        /// With `profile`: rank 0's self time per kernel over the profiled steps, per step, most
        /// first, and the profiled steps' mean duration.
        public var profile: [StepProfile.Entry] = []
        public var profiledStepSeconds = 0.0
    }

    /// Runs `steps` timed steps (after one warm-up step) with `threads` threads, then, with
    /// `profile`, `steps` more steps with `StepProfile` recording (apart, so that its small cost
    /// does not touch the timings). The dataset is a synthetic one of random tokens written to a
    /// temporary file (vocabulary 65, as the seeds').
    public static func run(config: RunConfig, threads: Int, steps: Int, profile: Bool = false,
                           communicator: Communicator = .world, log: (String) -> Void) throws -> Result {
        // Rank 0 names the folder and writes the data; every rank uses the same paths (the config
        // must be identical on all ranks).
        let folder = try communicator.broadcast(
            FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(getpid())").path)
        let path = folder + "/synthetic.h5"
        if communicator.isRoot {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            if config.model.kind == .gpt {
                try DatasetFile.writeSyntheticLanguageModel(path: path, vocabulary: 65, tokens: 1 << 20)
            } else {
                try writeSyntheticParallel(folder: folder, path: path, length: config.data.blockSize)
            }
        }
        try communicator.barrier()
        defer {
            try? communicator.barrier()
            if communicator.isRoot { try? FileManager.default.removeItem(atPath: folder) }
        }
        var config = config
        config.data.dataset = path
        config.runDirectory = folder + "/run"
        config.eval.interval = 0
        let task = try TaskFactory.make(config: config)
        let trainer = try Trainer(config: config, task: task, communicator: communicator, threads: threads, resume: false,
                                  log: { _ in })
        let machine = MachinePeak.measure(threads: threads, precision: try config.precision.resolved()), peak = machine.flops
        _ = try trainer.trainStep(lr: 1e-4)
        var best = Double.infinity, share = 0.0
        for _ in 0 ..< steps {
            try communicator.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try trainer.trainStep(lr: 1e-4)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if seconds < best {
                best = seconds
                share = trainer.lastCommunicationSeconds / seconds
            }
            log(String(format: "  %d ranks × %d threads: step %.1f ms, all-reduce %.1f ms", communicator.size, threads,
                       seconds * 1e3, trainer.lastCommunicationSeconds * 1e3))
        }
        let tokens = trainer.lastStepTokens
        var result = Result(ranks: communicator.size, threads: threads, millisecondsPerStep: best * 1e3,
                            tokensPerSecond: tokens / best, mfu: trainer.lastStepFLOPs / Double(communicator.size) / best / peak,
                            peak: machine, parameters: task.parameters.count, allreduceShare: share)
        if profile && steps > 0 {
            try communicator.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            StepProfile.reset()
            for _ in 0 ..< steps { _ = try trainer.trainStep(lr: 1e-4) }
            let entries = StepProfile.finish()
            result.profiledStepSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(steps)
            result.profile = entries.map {
                StepProfile.Entry(name: $0.name, seconds: $0.seconds / Double(steps), calls: $0.calls / steps)
            }
        }
        return result
    }

    /// A parallel dataset of random sentences: 4,000 pairs over 16,000 synthetic words (about the
    /// size of opus_books' word vocabularies), 16 to 32 words per side, within `length` tokens.
    static func writeSyntheticParallel(folder: String, path: String, length: Int) throws {
        var random = SplitMix(seed: 11)
        func sentence() -> String {
            let words = 16 + Int(random.next() % 17)
            return (0 ..< min(words, length - 2)).map { _ in "w\(random.next() % 16_000)" }.joined(separator: " ")
        }
        let tsv = (0 ..< 4000).map { _ in sentence() + "\t" + sentence() }.joined(separator: "\n")
        try tsv.write(toFile: folder + "/synthetic.tsv", atomically: true, encoding: .utf8)
        var options = ParallelPrepareOptions()
        options.minimumFrequency = 1
        options.maximumLength = length
        options.validationFraction = 0.05
        _ = try ParallelPrepare.prepare(inputs: [folder + "/synthetic.tsv"], output: path, options: options)
    }
}
