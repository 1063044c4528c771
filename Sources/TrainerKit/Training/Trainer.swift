import Foundation

/// The training loop (nanoGPT's train.py, top to bottom): set-up, then per step: evaluate and
/// checkpoint when due, forward/backward over this rank's micro-batches, exact gradient sum over
/// ranks, clip, AdamW update, log.
public final class Trainer {
    /// What a finished run reports.
    public struct Summary: Sendable {
        public var steps: Int
        public var finalTrainLoss: Double?
        public var finalValidationLoss: Double?
        public var seconds: Double
        public var checkpoint: String
    }

    public let config: RunConfig
    let communicator: Communicator
    let task: TrainingTask
    let parallelism: Parallelism
    let optimizer: AdamW
    let reducer: GradientReducer
    var gradientSum: GradientSum { reducer.sum }
    /// Seconds of the last step spent in the gradient all-reduce (MPI calls).
    public private(set) var lastCommunicationSeconds = 0.0
    /// Keep the last step's (clipped) gradient in `parameters.gradients` after the update instead of
    /// clearing it there (tests inspect it; training saves a memory pass by clearing).
    public var keepsGradients = false
    /// Input tokens and model FLOPs of the last step, over all ranks.
    public private(set) var lastStepTokens = 0.0, lastStepFLOPs = 0.0
    let schedule: LearningRateSchedule
    var metrics = MetricsHistory()
    public var step = 0
    var tokensSeen = 0
    /// Prints a line (rank 0 only).
    let log: (String) -> Void
    let configText: String

    /// Micro-batches per step over all ranks, and this rank's share.
    let microBatches: Int
    var myMicroBatches: Range<Int> {
        let W = communicator.size, r = communicator.rank
        return (r * microBatches / W) ..< ((r + 1) * microBatches / W)
    }

    public var checkpointPath: String { config.runDirectory + "/ckpt.h5" }

    public init(config: RunConfig, task: TrainingTask, communicator: Communicator, threads: Int, resume: Bool,
                log: @escaping (String) -> Void) throws {
        self.config = config
        self.task = task
        self.communicator = communicator
        self.log = communicator.isRoot ? log : { _ in }
        parallelism = Parallelism(threads: threads)
        microBatches = config.data.microBatchesPerStep
        guard microBatches % communicator.size == 0 else {
            throw TrainerError("config: the \(microBatches) micro-batches per step (data.batch_size \(config.data.batchSize) / data.micro_batch_size \(config.data.microBatchSize)) do not divide evenly over \(communicator.size) ranks")
        }
        let o = config.optimizer
        optimizer = AdamW(parameterCount: task.parameters.count, beta1: Float(o.beta1), beta2: Float(o.beta2),
                          epsilon: Float(o.eps), weightDecay: Float(o.weightDecay))
        reducer = GradientReducer(store: task.parameters, communicator: communicator,
                                  mode: config.reduction == .exact ? .exact : .float, microBatchesPerStep: microBatches,
                                  overlap: config.overlapReduction)
        schedule = LearningRateSchedule(peak: o.lr, minimum: config.schedule.minLR, warmup: config.schedule.warmup,
                                        decaySteps: config.schedule.resolvedDecaySteps)
        configText = try ConfigLoader.yaml(config)
        // Every rank must train the same thing (same config, same data) and hold the same weights.
        try Consistency.requireSameSetup(configText + "\n" + task.dataIdentity, communicator: communicator)
        if resume {
            try restore()
        } else {
            task.initialize(seed: UInt64(config.seed))
            try calibrateExponents()
        }
        // Every rank starts from rank 0's parameters (identical anyway: same seed or checkpoint).
        try communicator.broadcast(task.parameters.values.bufferPointer)
    }

    /// Resumes from `run_dir/ckpt.h5`: parameters, optimizer, step, exponents, metrics.
    func restore() throws {
        let reader = try Checkpoint.Reader(path: checkpointPath)
        guard reader.header.modelKind == task.modelKind else {
            throw TrainerError("\(checkpointPath): a '\(reader.header.modelKind)' checkpoint, the config trains '\(task.modelKind)'")
        }
        let stored = try ConfigLoader.load(text: reader.header.config, source: checkpointPath + " (stored config)")
        guard stored.model == config.model else {
            throw TrainerError("\(checkpointPath): model config differs from the checkpoint's; resume with the same model settings")
        }
        try task.checkTokenizer(against: reader.file.group("tokenizer"), checkpoint: checkpointPath)
        try reader.loadParameters(into: task.parameters)
        try reader.loadOptimizer(into: optimizer, entries: task.parameters.entries)
        gradientSum.exponents = try reader.exponents(entries: task.parameters.entries)
        metrics = try reader.metrics()
        step = reader.header.step
        tokensSeen = reader.header.tokensSeen
        log("resumed from \(checkpointPath) at step \(step)")
    }

    /// Chooses the first step's gradient exponents from micro-batch 0 of that step, which every
    /// rank computes (the same data on every rank, so the same exponents for any number of ranks).
    func calibrateExponents() throws {
        task.parameters.gradients.zero()
        _ = try task.trainMicroBatch(step: step, index: 0, parallelism: parallelism)
        var maxima = maximumMagnitudes(task.parameters)
        try maxima.withUnsafeMutableBufferPointer { try communicator.allreduceMax($0) }
        gradientSum.chooseExponents(from: maxima.map { Float($0) })
        task.parameters.gradients.zero()
    }

    func maximumMagnitudes(_ store: ParameterStore) -> [Double] {
        store.entries.map { entry in
            var largest: Float = 0
            for i in 0 ..< entry.count { largest = max(largest, abs(store.gradients[entry.offset + i])) }
            return Double(largest)
        }
    }

    /// Sums per-slot values over ranks exactly: each rank fills its own slots, others are zero, and
    /// x + 0 is exact, so the vector is the same for any number of ranks; then adds in slot order.
    func exactTotal(_ slots: [Double]) throws -> Double {
        var copy = slots
        try copy.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        return copy.reduce(0, +)
    }

    /// The mean loss of `split` over `eval.batches` fixed micro-batches, split across ranks.
    func evaluate(_ split: TokenDataset.Split) throws -> Double {
        let n = task.evaluationBatches(split), W = communicator.size, r = communicator.rank
        var sums = [Double](repeating: 0, count: n), counts = [Double](repeating: 0, count: n)
        for index in (r * n / W) ..< ((r + 1) * n / W) {
            let total = try task.evaluateMicroBatch(split: split, index: index, parallelism: parallelism)
            sums[index] = total.sum
            counts[index] = Double(total.count)
        }
        return try exactTotal(sums) / exactTotal(counts)
    }

    /// One optimizer step; returns (mean loss, gradient norm before clipping).
    public func trainStep(lr: Double) throws -> (loss: Double, gradientNorm: Double) {
        var lossSums = [Double](repeating: 0, count: microBatches), tokenCounts = [Double](repeating: 0, count: microBatches)
        var inputTokens = [Double](repeating: 0, count: microBatches), flops = [Double](repeating: 0, count: microBatches)
        var maxima: [Float] = []
        let mine = myMicroBatches
        for attempt in 0 ..< 3 {
            reducer.beginStep(parallelism: parallelism)
            for index in mine {
                if let failure = FaultInjection.failure(rank: communicator.rank, step: step) { throw failure }
                // The last local micro-batch reports finished tensors so their buckets start early.
                let report = reducer.overlap && index == mine.upperBound - 1
                let total = try task.trainMicroBatch(step: step, index: index, parallelism: parallelism,
                                                     gradientsReady: report ? reducer.gradientsReady : nil)
                lossSums[index] = total.sum
                tokenCounts[index] = Double(total.count)
                inputTokens[index] = Double(task.lastMicroBatchTokens)
                flops[index] = task.lastMicroBatchFLOPs
                reducer.microBatchDone(reportedWhileRunning: report, last: index == mine.upperBound - 1)
            }
            let (stepMaxima, overflowed) = try reducer.finish()
            maxima = stepMaxima
            if !overflowed { break }
            guard maxima.allSatisfy({ $0.isFinite }) else {
                throw TrainerError("step \(step): the gradient is not finite (NaN or infinity); lower optimizer.lr or check the data")
            }
            log("step \(step): a gradient exceeded its fixed-point range; recomputing the step with wider exponents (attempt \(attempt + 2))")
            gradientSum.chooseExponents(from: maxima)
        }
        lastCommunicationSeconds = reducer.communicationSeconds
        lastStepTokens = try exactTotal(inputTokens)
        lastStepFLOPs = try exactTotal(flops)
        let tokens = try exactTotal(tokenCounts)
        let loss = try exactTotal(lossSums) / tokens
        // Convert with this step's exponents, then choose the next step's from this step's maxima.
        reducer.writeMean(scale: 1 / tokens)
        if reducer.mode == .exact { gradientSum.chooseExponents(from: maxima) }
        // Global gradient norm (identical on every rank: same gradients, fixed summation order).
        let g = task.parameters.gradients
        let norm = Reductions.sumOfSquares(g.readPointer, count: g.count, parallelism: parallelism).squareRoot()
        // PyTorch's clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
        let clip = config.optimizer.gradClip
        if clip > 0 && clip / (norm + 1e-6) < 1 {
            let factor = Float(clip / (norm + 1e-6))
            parallelism.forEachPiece(count: g.count) { _, range in
                for i in range { g[i] *= factor }
            }
        }
        optimizer.update(task.parameters, lr: Float(lr), parallelism: parallelism, clearGradients: !keepsGradients)
        reducer.gradientsAreZero = !keepsGradients
        tokensSeen += Int(tokens)
        return (loss, norm)
    }

    /// Appends one JSON object to run_dir/metrics.jsonl (rank 0).
    func appendMetrics(_ fields: [(String, Any)]) {
        guard communicator.isRoot else { return }
        let body = fields.map { key, value -> String in
            switch value {
            case let d as Double: return "\"\(key)\": \(d.isFinite ? String(d) : "null")"
            case let i as Int: return "\"\(key)\": \(i)"
            default: return "\"\(key)\": \"\(value)\""
            }
        }.joined(separator: ", ")
        let line = "{" + body + "}\n"
        let path = config.runDirectory + "/metrics.jsonl"
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(Data(line.utf8))
            try? handle.close()
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: Data(line.utf8))
        }
    }

    /// Evaluates both splits (and the task's extra metrics), logs and records them.
    func evaluateAndLog() throws {
        let train = try evaluate(.train), val = try evaluate(.val)
        var line = String(format: "step %d: train loss %.4f, val loss %.4f", step, train, val)
        metrics.record("train_loss", step: step, value: train)
        metrics.record("val_loss", step: step, value: val)
        var fields: [(String, Any)] = [("step", step), ("train_loss", train), ("val_loss", val)]
        for (name, value) in try task.extraEvaluation(step: step, communicator: communicator, parallelism: parallelism) {
            line += String(format: ", %@ %.4f", name, value)
            metrics.record(name, step: step, value: value)
            fields.append((name, value))
        }
        log(line)
        appendMetrics(fields)
    }

    /// Writes run_dir/ckpt.h5 (rank 0), keeping up to `checkpoint.keep` older ones as ckpt-<step>.h5.
    func saveCheckpoint() throws {
        guard communicator.isRoot else { return }
        let keep = config.checkpoint.keep
        let folder = config.runDirectory
        if keep > 1, FileManager.default.fileExists(atPath: checkpointPath),
           let previous = try? Checkpoint.Reader(path: checkpointPath).header.step, previous != step {
            let archived = folder + "/ckpt-\(previous).h5"
            _ = try? FileManager.default.removeItem(atPath: archived)
            try FileManager.default.copyItem(atPath: checkpointPath, toPath: archived)
            let old = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
                .compactMap { name -> Int? in
                    guard name.hasPrefix("ckpt-"), name.hasSuffix(".h5") else { return nil }
                    return Int(name.dropFirst(5).dropLast(3))
                }.sorted()
            for stale in old.dropLast(keep - 1) { try? FileManager.default.removeItem(atPath: folder + "/ckpt-\(stale).h5") }
        }
        let header = Checkpoint.Header(modelKind: task.modelKind, step: step, tokensSeen: tokensSeen, seed: config.seed,
                                       config: configText)
        try Checkpoint.write(to: checkpointPath, header: header, parameters: task.parameters, optimizer: optimizer,
                             writeTokenizer: task.writeTokenizer, metrics: metrics, exponents: gradientSum.exponents,
                             extraState: ["dataset": config.data.dataset])
        log("step \(step): wrote \(checkpointPath)")
    }

    /// Runs from the current step to `schedule.max_steps`.
    public func run() throws -> Summary {
        let started = Date()
        try FileManager.default.createDirectory(atPath: config.runDirectory, withIntermediateDirectories: true)
        if communicator.isRoot {
            try configText.write(toFile: config.runDirectory + "/config.yaml", atomically: true, encoding: .utf8)
        }
        let machine = MachinePeak.measure(threads: parallelism.threads)
        let peak = machine.flops
        let maxSteps = config.schedule.maxSteps
        let startStep = step
        log(String(format: "%@: %d parameters, %d ranks × %d threads, %d micro-batches of %d sequences per step",
                   task.modelKind, task.parameters.count, communicator.size, parallelism.threads, microBatches,
                   config.data.microBatchSize))
        log("\(BLASKernel.summary); MFU against the \(machine.description) per rank")
        var lastEvaluated = -1
        while step < maxSteps {
            if config.eval.interval > 0 && step % config.eval.interval == 0 {
                try evaluateAndLog()
                lastEvaluated = step
            }
            if step > startStep && config.checkpoint.interval > 0 && step % config.checkpoint.interval == 0 {
                try saveCheckpoint()
            }
            if config.syncCheckInterval > 0 && step % config.syncCheckInterval == 0 {
                try Consistency.requireSameParameters(task.parameters.values, step: step, communicator: communicator)
            }
            let lr = schedule.rate(at: step)
            let stepStart = DispatchTime.now().uptimeNanoseconds
            let (loss, norm) = try trainStep(lr: lr)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - stepStart) / 1e9
            let tokens = lastStepTokens
            let mfu = lastStepFLOPs / Double(communicator.size) / seconds / peak
            if config.logInterval > 0 && step % config.logInterval == 0 {
                let communication = communicator.size > 1 ? String(format: ", all-reduce %.1f%%", 100 * lastCommunicationSeconds / seconds) : ""
                log(String(format: "step %d: loss %.4f, lr %.2e, grad norm %.3f, %.1f ms, %.0f tok/s, mfu %.1f%%%@",
                           step, loss, lr, norm, seconds * 1e3, tokens / seconds, mfu * 100, communication))
            }
            metrics.record("loss", step: step, value: loss)
            appendMetrics([("step", step), ("loss", loss), ("lr", lr), ("grad_norm", norm), ("ms", seconds * 1e3),
                           ("tokens_per_s", tokens / seconds), ("mfu", mfu), ("allreduce_ms", lastCommunicationSeconds * 1e3)])
            step += 1
        }
        if lastEvaluated != step { try evaluateAndLog() }
        try saveCheckpoint()
        try communicator.barrier()
        return Summary(steps: step - startStep, finalTrainLoss: metrics.last("train_loss")?.value,
                       finalValidationLoss: metrics.last("val_loss")?.value, seconds: Date().timeIntervalSince(started),
                       checkpoint: checkpointPath)
    }
}
