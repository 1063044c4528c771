import Foundation

/// `trainer bench step`: full training steps (forward, backward, exact gradient sum, clip, AdamW)
/// of a config's GPT on synthetic tokens, in one process, reporting ms/step, tokens/s and MFU
/// against the sgemm peak measured at start-up with the same threads.
public enum StepBench {
    public struct Result: Sendable {
        public var threads: Int
        public var millisecondsPerStep: Double
        public var tokensPerSecond: Double
        public var mfu: Double
        public var peakGFLOPs: Double
        public var parameters: Int
    }

    /// Runs `steps` timed steps (after one warm-up step) with `threads` threads. The dataset is a
    /// synthetic one of random tokens written to a temporary file (vocabulary 65, as the seeds').
    public static func run(config: RunConfig, threads: Int, steps: Int, log: (String) -> Void) throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/synthetic.h5"
        try writeSynthetic(path: path, vocabulary: 65, tokens: 1 << 20)
        var config = config
        config.data.dataset = path
        config.runDirectory = folder + "/run"
        config.eval.interval = 0
        let task = try GPTTask(config: config, dataset: TokenDataset(path: path))
        let trainer = try Trainer(config: config, task: task, communicator: .world, threads: threads, resume: false, log: { _ in })
        let peak = Trainer.measurePeak(threads: threads)
        _ = try trainer.trainStep(lr: 1e-4)
        var best = Double.infinity
        for _ in 0 ..< steps {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try trainer.trainStep(lr: 1e-4)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = min(best, seconds)
            log(String(format: "  threads %d: step %.1f ms", threads, seconds * 1e3))
        }
        let microBatches = Double(config.data.microBatchesPerStep)
        let tokens = microBatches * Double(task.tokensPerMicroBatch)
        return Result(threads: threads, millisecondsPerStep: best * 1e3, tokensPerSecond: tokens / best,
                      mfu: task.flopsPerMicroBatch * microBatches / best / peak, peakGFLOPs: peak / 1e9,
                      parameters: task.parameters.count)
    }

    /// A dataset of uniformly random tokens (a char tokenizer over `vocabulary` printable characters).
    static func writeSynthetic(path: String, vocabulary: Int, tokens: Int) throws {
        let file = try HDF5File(path: path, mode: .truncate)
        try file.setAttribute("format", "trainer-dataset")
        try file.setAttribute("format_version", Int64(1))
        try file.setAttribute("kind", "lm")
        let scalars = Set((0 ..< vocabulary).map { UInt32(0x21 + $0) })
        try CharTokenizer(scalars: scalars).write(to: file.createGroup("tokenizer"))
        var random = SplitMix(seed: 7)
        for split in ["train", "val"] {
            let ids = (0 ..< tokens).map { _ in UInt16(random.next() % UInt64(vocabulary)) }
            try file.write("\(split)/tokens", ids, chunk: [1 << 16], deflate: 1)
        }
        try file.close()
    }
}
