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
        /// The signal (SIGTERM, SIGINT) that stopped the run early, after its checkpoint; nil when
        /// it ran to `schedule.max_steps`.
        public var stopSignal: Int32? = nil
    }

    public let config: RunConfig
    let communicator: Communicator
    let task: TrainingTask
    let parallelism: Parallelism
    let optimizer: AdamW
    /// The step's gradient: micro-batch sums, exact all-reduce, mean, clipping.
    let gradients: StepGradients
    /// Seconds of the last step spent in the gradient all-reduce (MPI calls) once every rank was
    /// ready, and waiting for the slowest rank before that.
    public var lastCommunicationSeconds: Double { gradients.communicationSeconds }
    public var lastWaitSeconds: Double { gradients.waitSeconds }
    /// The last step's share-out of micro-batches to ranks.
    public private(set) var lastSchedule: MicroBatchSchedule
    /// Input tokens and model FLOPs of the last step, over all ranks.
    public private(set) var lastStepTokens = 0.0, lastStepFLOPs = 0.0
    let schedule: LearningRateSchedule
    var metrics = MetricsHistory()
    public var step = 0
    var tokensSeen = 0
    /// Prints a line (rank 0 only).
    let log: (String) -> Void
    let configText: String
    /// run_dir/metrics.jsonl (rank 0 writes it).
    let metricsLog: MetricsLog
    /// Rank 0's lock on run_dir, held while this trainer lives.
    let runDirectory: RunDirectory?
    /// Check-ins with a deadline at each step's start and end of micro-batches.
    let watchdog: Watchdog
    /// The last steps' durations, for the watchdog's automatic timeout.
    var recentStepSeconds: [Double] = []

    /// Micro-batches per step over all ranks.
    let microBatches: Int

    /// Which micro-batches of `step` each rank runs: contiguous runs when they cost the same (the
    /// GPT), shared out by cost otherwise (the translator); see `MicroBatchSchedule`.
    func schedule(step: Int) throws -> MicroBatchSchedule {
        let costs = try (0 ..< microBatches).map { try task.microBatchCost(step: step, index: $0) }
        if costs.contains(nil) { return MicroBatchSchedule(contiguous: microBatches, ranks: communicator.size) }
        return MicroBatchSchedule(costs: costs.map { $0! }, ranks: communicator.size)
    }

    public var checkpointPath: String { config.runDirectory + "/ckpt.h5" }

    /// A generous bound on the trace events of one step: the step's own spans, three per
    /// micro-batch and one per bucket, for up to three attempts (`StepGradients.accumulate`).
    var eventsPerTracedStep: Int { 16 + 3 * (6 + 3 * microBatches + gradients.allreduce.bucketCount) }

    /// - Parameters:
    ///   - resume: continue from run_dir/ckpt.h5 (which must exist).
    ///   - overwrite: start over even if run_dir/ckpt.h5 exists (otherwise that is refused).
    public init(config: RunConfig, task: TrainingTask, communicator: Communicator, threads: Int, resume: Bool,
                overwrite: Bool = false, log: @escaping (String) -> Void) throws {
        self.config = config
        self.task = task
        self.communicator = communicator
        self.log = communicator.isRoot ? log : { _ in }
        parallelism = Parallelism(threads: threads)
        microBatches = config.data.microBatchesPerStep
        lastSchedule = MicroBatchSchedule(contiguous: microBatches, ranks: communicator.size)
        guard microBatches % communicator.size == 0 else {
            throw TrainerError("config: the \(microBatches) micro-batches per step (data.batch_size \(config.data.batchSize) / data.micro_batch_size \(config.data.microBatchSize)) do not divide evenly over \(communicator.size) ranks")
        }
        let o = config.optimizer
        optimizer = AdamW(parameterCount: task.parameters.count, beta1: Float(o.beta1), beta2: Float(o.beta2),
                          epsilon: Float(o.eps), weightDecay: Float(o.weightDecay))
        watchdog = Watchdog(communicator: communicator,
                            timeout: config.watchdogSeconds > 0 ? config.watchdogSeconds : Watchdog.automaticTimeout(stepSeconds: []))
        communicator.watchdog = watchdog
        gradients = StepGradients(parameters: task.parameters, communicator: communicator, mode: config.reduction,
                                  microBatchesPerStep: microBatches, overlap: config.overlapReduction,
                                  bucketElements: config.bucketParameters, watchdog: watchdog,
                                  log: self.log)
        metricsLog = MetricsLog(path: config.runDirectory + "/metrics.jsonl")
        runDirectory = try Self.claim(config.runDirectory, resume: resume, overwrite: overwrite, communicator: communicator,
                                      log: communicator.isRoot ? log : { _ in })
        schedule = LearningRateSchedule(peak: o.lr, minimum: config.schedule.minLR, warmup: config.schedule.warmup,
                                        decaySteps: config.schedule.resolvedDecaySteps)
        configText = try ConfigLoader.yaml(config)
        // Every rank must train the same thing (same config, same data) and hold the same weights.
        try Consistency.requireSameSetup(configText + "\n" + task.dataIdentity, communicator: communicator)
        if resume {
            try restore()
            try runDirectory?.truncateMetrics(before: step)
        } else {
            try runDirectory?.truncateMetrics(before: 0)
            task.initialize(seed: UInt64(config.seed))
            try gradients.calibrate(parallelism: parallelism) {
                _ = try task.trainMicroBatch(step: step, index: 0, parallelism: parallelism)
            }
        }
        // Every rank starts from rank 0's parameters (identical anyway: same seed or checkpoint).
        try communicator.broadcast(task.parameters.values.bufferPointer)
    }

    /// Rank 0 takes run_dir's lock, refuses to replace a checkpoint unless told to, and removes the
    /// temporary files of dead processes; every rank gets the same outcome (the same error, if any).
    static func claim(_ path: String, resume: Bool, overwrite: Bool, communicator: Communicator,
                      log: (String) -> Void) throws -> RunDirectory? {
        var directory: RunDirectory?
        var failure = ""
        if communicator.isRoot {
            do {
                let claimed = try RunDirectory(path: path)
                let exists = FileManager.default.fileExists(atPath: claimed.checkpointPath)
                if resume && !exists {
                    throw TrainerError("\(claimed.checkpointPath): no checkpoint to resume; train without --resume, or with --resume auto")
                }
                if !resume && exists && !overwrite {
                    let step = (try? Checkpoint.Reader(path: claimed.checkpointPath).header.step).map { " (step \($0))" } ?? ""
                    throw TrainerError("\(claimed.checkpointPath) exists\(step); continue it with --resume (or --resume auto), or start over with --overwrite")
                }
                let removed = claimed.removeStaleTemporaries()
                if !removed.isEmpty { log("removed temporary files of processes that no longer run: \(removed.joined(separator: ", "))") }
                directory = claimed
            } catch let error as TrainerError {
                failure = error.message
            }
        }
        failure = try communicator.broadcast(failure)
        guard failure.isEmpty else { throw TrainerError(failure) }
        return directory
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
        gradients.exponents = try reader.exponents(entries: task.parameters.entries)
        metrics = try reader.metrics()
        step = reader.header.step
        tokensSeen = reader.header.tokensSeen
        log("resumed from \(checkpointPath) at step \(step)")
    }

    /// Sums per-slot values over ranks exactly: each rank fills its own slots, others are zero, and
    /// x + 0 is exact, so the vector is the same for any number of ranks; then adds in slot order.
    func exactTotal(_ slots: [Double]) throws -> Double {
        var copy = slots
        try copy.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        return copy.reduce(0, +)
    }

    /// The mean loss of `split` over `eval.batches` fixed micro-batches, split across ranks, and
    /// the mean plain cross-entropy (the loss without label smoothing; the same without it).
    func evaluate(_ split: TokenDataset.Split) throws -> (loss: Double, unsmoothed: Double) {
        let n = task.evaluationBatches(split), W = communicator.size, r = communicator.rank
        var sums = [Double](repeating: 0, count: n), counts = [Double](repeating: 0, count: n)
        var unsmoothed = [Double](repeating: 0, count: n)
        for index in (r * n / W) ..< ((r + 1) * n / W) {
            let total = try task.evaluateMicroBatch(split: split, index: index, parallelism: parallelism)
            sums[index] = total.sum
            counts[index] = Double(total.count)
            unsmoothed[index] = total.unsmoothedSum
        }
        let count = try exactTotal(counts)
        return (try exactTotal(sums) / count, try exactTotal(unsmoothed) / count)
    }

    /// One optimizer step (nanoGPT's loop body): this rank's micro-batches forward and backward,
    /// the exact gradient sum over ranks, the mean, clipping, the AdamW update. Returns the mean
    /// loss and the gradient norm before clipping.
    public func trainStep(lr: Double) throws -> (loss: Double, gradientNorm: Double) {
        let (loss, norm) = try computeGradient()
        gradients.update(optimizer, lr: lr)
        return (loss, norm)
    }

    /// `trainStep` without the update: leaves the step's mean, clipped gradient in
    /// `task.parameters.gradients` (the next step starts by clearing it).
    public func computeGradient() throws -> (loss: Double, gradientNorm: Double) {
        // Per global micro-batch slots, filled by the rank that runs it and summed exactly.
        var lossSums = [Double](repeating: 0, count: microBatches), tokenCounts = [Double](repeating: 0, count: microBatches)
        var inputTokens = [Double](repeating: 0, count: microBatches), flops = [Double](repeating: 0, count: microBatches)
        lastSchedule = try schedule(step: step)
        let mine = lastSchedule.assignments[communicator.rank]
        try gradients.accumulate(step: step, microBatches: mine, parallelism: parallelism) { index, gradientsReady in
            if let failure = FaultInjection.failure(rank: communicator.rank, step: step) { throw failure }
            let total = try task.trainMicroBatch(step: step, index: index, parallelism: parallelism,
                                                 gradientsReady: gradientsReady)
            lossSums[index] = total.sum
            tokenCounts[index] = Double(total.count)
            inputTokens[index] = Double(task.lastMicroBatchTokens)
            flops[index] = task.lastMicroBatchFLOPs
        }
        let totals = Timeline.begin(.totals)
        lastStepTokens = try exactTotal(inputTokens)
        lastStepFLOPs = try exactTotal(flops)
        let tokens = try exactTotal(tokenCounts)
        let loss = try exactTotal(lossSums) / tokens
        Timeline.end(totals)
        let finishing = Timeline.begin(.gradientFinish)
        let norm = gradients.finish(tokens: tokens)
        gradients.clip(maxNorm: config.optimizer.gradClip, norm: norm)
        Timeline.end(finishing)
        tokensSeen += Int(tokens)
        return (loss, norm)
    }

    /// Appends one JSON object to run_dir/metrics.jsonl (rank 0).
    func appendMetrics(_ fields: [(String, Any)]) {
        if communicator.isRoot { metricsLog.append(fields) }
    }

    /// Evaluates both splits (and the task's extra metrics), logs and records them.
    ///
    /// `train_loss` and `val_loss` are the loss training minimises (label-smoothed when
    /// `model.label_smoothing` > 0); `val_perplexity` is always exp of the plain cross-entropy. With
    /// label smoothing, `train_loss_unsmoothed`, `val_loss_unsmoothed` and `val_perplexity_smoothed`
    /// (exp of `val_loss`) are added. The task's extra evaluation (translation scores) is announced
    /// by a line before it starts, and skipped at step 0, where the model is untrained.
    func evaluateAndLog() throws {
        let span = Timeline.begin(.evaluation)
        defer { Timeline.end(span) }
        let train = try evaluate(.train), val = try evaluate(.val)
        var line = String(format: "step %d: train loss %.6f, val loss %.6f", step, train.loss, val.loss)
        var values: [(String, Double)] = [("train_loss", train.loss), ("val_loss", val.loss)]
        if config.model.labelSmoothing > 0 {
            line += String(format: " (label smoothing %g), unsmoothed train loss %.6f, unsmoothed val loss %.6f, val perplexity %.4f (%.4f smoothed)",
                           config.model.labelSmoothing, train.unsmoothed, val.unsmoothed, exp(val.unsmoothed), exp(val.loss))
            values += [("train_loss_unsmoothed", train.unsmoothed), ("val_loss_unsmoothed", val.unsmoothed),
                       ("val_perplexity", exp(val.unsmoothed)), ("val_perplexity_smoothed", exp(val.loss))]
        } else {
            line += String(format: ", val perplexity %.4f", exp(val.unsmoothed))
            values.append(("val_perplexity", exp(val.unsmoothed)))
        }
        let limit = config.eval.decodePairs
        if let summary = task.extraEvaluationSummary(split: .val, limit: limit) {
            if step == 0 {
                line += "; skipped at step 0 (untrained): " + summary
            } else {
                log("step \(step): evaluating: \(summary) ...")
                for (name, value) in try task.extraEvaluation(split: .val, limit: limit, communicator: communicator,
                                                               parallelism: parallelism) {
                    line += String(format: ", %@ %.4f", name, value)
                    values.append((name, value))
                }
            }
        }
        for (name, value) in values { metrics.record(name, step: step, value: value) }
        log(line)
        appendMetrics([("step", step)] + values.map { ($0.0, $0.1 as Any) })
    }

    /// Writes run_dir/ckpt.h5 (rank 0), keeping up to `checkpoint.keep` older ones as ckpt-<step>.h5.
    func saveCheckpoint() throws {
        guard communicator.isRoot else { return }
        let span = Timeline.begin(.checkpoint)
        defer { Timeline.end(span) }
        try Checkpoint.archivePrevious(of: checkpointPath, beforeWritingStep: step, keep: config.checkpoint.keep)
        let header = Checkpoint.Header(modelKind: task.modelKind, step: step, tokensSeen: tokensSeen, seed: config.seed,
                                       config: configText)
        try Checkpoint.write(to: checkpointPath, header: header, parameters: task.parameters, optimizer: optimizer,
                             writeTokenizer: task.writeTokenizer, metrics: metrics, exponents: gradients.exponents,
                             extraState: Checkpoint.datasetState(config.data.dataset))
        log("step \(step): wrote \(checkpointPath)")
    }

    /// Runs from the current step to `schedule.max_steps`.
    public func run() throws -> Summary {
        let started = Date()
        try FileManager.default.createDirectory(atPath: config.runDirectory, withIntermediateDirectories: true)
        if communicator.isRoot {
            try configText.write(toFile: config.runDirectory + "/config.yaml", atomically: true, encoding: .utf8)
        }
        let precision = try config.precision.resolved()
        let machine = MachinePeak.measure(threads: parallelism.threads, precision: precision)
        let peak = machine.flops
        let maxSteps = config.schedule.maxSteps
        let startStep = step
        log(String(format: "%@: %d parameters, %d ranks × %d threads, %d micro-batches of %d sequences per step",
                   task.modelKind, task.parameters.count, communicator.size, parallelism.threads, microBatches,
                   config.data.microBatchSize))
        log("\(BLASKernel.summary); precision \(precision.rawValue)"
            + (config.precision == .auto ? " (auto)" : "") + "; MFU against the \(machine.description) per rank")
        var lastEvaluated = -1
        let trace = config.trace ? TraceSession(config: config, startStep: startStep, eventsPerStep: eventsPerTracedStep,
                                                communicator: communicator, log: log) : nil
        while step < maxSteps {
            try trace?.stepBegins(step)
            let stepSpan = Timeline.begin(.step)
            // Every rank checks in (the watchdog's deadline); a stop signal on any rank stops all
            // here, at the same step, with a checkpoint.
            let signal = Int32(try watchdog.checkIn(Int64(StopSignal.received ?? 0), at: "step \(step), start"))
            if signal > 0 {
                log("step \(step): \(StopSignal.name(signal)) received; writing a checkpoint and stopping (a second signal exits at once)")
                try saveCheckpoint()
                Timeline.end(stepSpan)
                try trace?.finish()
                try communicator.barrier()
                return Summary(steps: step - startStep, finalTrainLoss: metrics.last("train_loss")?.value,
                               finalValidationLoss: metrics.last("val_loss")?.value,
                               seconds: Date().timeIntervalSince(started), checkpoint: checkpointPath, stopSignal: signal)
            }
            if config.eval.interval > 0 && step % config.eval.interval == 0 {
                try evaluateAndLog()
                lastEvaluated = step
            }
            if step > startStep && config.checkpoint.interval > 0 && step % config.checkpoint.interval == 0 {
                try saveCheckpoint()
            }
            if config.syncCheckInterval > 0 && step % config.syncCheckInterval == 0 {
                let span = Timeline.begin(.parameterCheck)
                try Consistency.requireSameParameters(task.parameters.values, step: step, communicator: communicator)
                Timeline.end(span)
            }
            let lr = schedule.rate(at: step)
            let stepStart = DispatchTime.now().uptimeNanoseconds
            let (loss, norm) = try trainStep(lr: lr)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - stepStart) / 1e9
            if config.watchdogSeconds == 0 {
                recentStepSeconds = Array((recentStepSeconds + [seconds]).suffix(50))
                watchdog.timeout = Watchdog.automaticTimeout(stepSeconds: recentStepSeconds)
            }
            let tokens = lastStepTokens
            let mfu = lastStepFLOPs / Double(communicator.size) / seconds / peak
            if config.logInterval > 0 && step % config.logInterval == 0 {
                let communication = communicator.size > 1
                    ? String(format: ", wait %.1f%%, all-reduce %.1f%%", 100 * lastWaitSeconds / seconds, 100 * lastCommunicationSeconds / seconds)
                    : ""
                log(String(format: "step %d: loss %.4f, lr %.2e, grad norm %.3f, %.1f ms, %.0f tok/s, mfu %.1f%%%@",
                           step, loss, lr, norm, seconds * 1e3, tokens / seconds, mfu * 100, communication))
            }
            metrics.record("loss", step: step, value: loss)
            appendMetrics([("step", step), ("loss", loss), ("lr", lr), ("grad_norm", norm), ("ms", seconds * 1e3),
                           ("tokens_per_s", tokens / seconds), ("mfu", mfu), ("wait_ms", lastWaitSeconds * 1e3),
                           ("allreduce_ms", lastCommunicationSeconds * 1e3)])
            Timeline.end(stepSpan)
            step += 1
        }
        // The final evaluation and checkpoint are traced when the window is still open.
        try trace?.stepBegins(step)
        if lastEvaluated != step { try evaluateAndLog() }
        try saveCheckpoint()
        try trace?.finish()
        try communicator.barrier()
        return Summary(steps: step - startStep, finalTrainLoss: metrics.last("train_loss")?.value,
                       finalValidationLoss: metrics.last("val_loss")?.value, seconds: Date().timeIntervalSince(started),
                       checkpoint: checkpointPath)
    }
}
