import Foundation

/// One optimizer step's gradient, from the first micro-batch to the optimizer: the single owner of
/// `parameters.gradients` during training, of the exact sums and of the all-reduce (PyTorch DDP's
/// `Reducer` plays this part there).
///
/// A step, as `Trainer.trainStep` runs it:
/// 1. `accumulate` runs this rank's micro-batches through the caller's forward/backward, folds
///    each micro-batch's float gradient into the Int64 fixed-point sums (`GradientSum`), and
///    all-reduces the sums over ranks in buckets (`BucketedAllreduce`), the last micro-batch's
///    buckets overlapping its backward pass. If a value overflowed its fixed-point range the step
///    is recomputed with wider exponents.
/// 2. `finish(tokens:)` writes the mean gradient into `parameters.gradients`, chooses the next
///    step's exponents from this step's maxima, and returns the global gradient norm.
/// 3. `clip(maxNorm:norm:)`, then `update(_:lr:)` applies the optimizer, which clears the gradient
///    as it reads it (one memory pass less); the next step knows it starts from zero.
///
/// With `reduction: float` the float gradients accumulate in place and are all-reduced as floats.
/// See ARCHITECTURE.md ("Determinism") for why the exact sums make every rank count agree.
public final class StepGradients {
    public let mode: Reduction
    /// Start each bucket's all-reduce during the last micro-batch's backward pass.
    public let overlap: Bool
    let parameters: ParameterStore
    let communicator: Communicator
    /// The exact accumulator (its exponents are part of a checkpoint).
    let sum: GradientSum
    let allreduce: BucketedAllreduce
    /// The ranks' check-ins with a deadline (a stopped rank stops the job, named).
    let watchdog: Watchdog
    let log: (String) -> Void
    private var parallelism = Parallelism.serial
    /// Whether `parameters.gradients` holds zeros (the optimizer cleared it, or `begin` did).
    private var gradientsAreClear = false
    /// Tensors `reportedFrom..<count` were folded into the sums while the backward pass ran.
    private var reportedFrom = 0
    /// Per-tensor largest |g| of the last `accumulate` over all ranks (exact mode).
    private var maxima: [Float] = []

    /// Each tensor's fixed-point exponent (exact mode), stored in checkpoints for an exact resume.
    public var exponents: [Int32] {
        get { sum.exponents }
        set { sum.exponents = newValue }
    }

    /// Seconds of the last step spent in MPI calls of the gradient all-reduce, after every rank
    /// had finished its micro-batches.
    public var communicationSeconds: Double { allreduce.communicationSeconds }
    /// Seconds of the last step this rank waited for the slowest rank to finish its micro-batches
    /// (load imbalance, not communication).
    public private(set) var waitSeconds = 0.0

    public init(parameters: ParameterStore, communicator: Communicator, mode: Reduction, microBatchesPerStep: Int,
                overlap: Bool, bucketElements: Int = 1 << 20, watchdog: Watchdog? = nil, log: @escaping (String) -> Void = { _ in }) {
        self.parameters = parameters
        self.communicator = communicator
        self.watchdog = watchdog ?? Watchdog(communicator: communicator, timeout: 300)
        self.mode = mode
        self.overlap = overlap
        self.log = log
        sum = GradientSum(entries: parameters.entries, microBatchesPerStep: microBatchesPerStep)
        let tensors = parameters.entries.map { $0.offset ..< $0.offset + $0.count }
        allreduce = BucketedAllreduce(tensors: tensors, buffer: mode == .exact ? .int64(sum.sums) : .float(parameters.gradients.pointer),
                                      communicator: communicator, bucketElements: bucketElements)
    }

    /// Chooses the first step's exponents from one micro-batch that every rank computes (the same
    /// data on every rank, so the same exponents for any number of ranks).
    public func calibrate(parallelism: Parallelism, _ runMicroBatch: () throws -> Void) throws {
        clearGradients(parallelism: parallelism)
        try runMicroBatch()
        var largest = parameters.entries.map { entry -> Double in
            var largest: Float = 0
            for i in 0 ..< entry.count { largest = max(largest, abs(parameters.gradients[entry.offset + i])) }
            return Double(largest)
        }
        try largest.withUnsafeMutableBufferPointer { try communicator.allreduceMax($0) }
        sum.chooseExponents(from: largest.map { Float($0) })
        clearGradients(parallelism: parallelism)
    }

    /// Runs micro-batches `microBatches` (ascending indices) of step `step` with `runMicroBatch(index, gradientsReady)`
    /// (forward and backward, adding into `parameters.gradients`; `gradientsReady`, when given,
    /// is to be told which tensors are final as the backward pass goes) and sums their gradients
    /// over this rank's micro-batches and all ranks. Recomputes the step (up to twice) when a value
    /// overflowed its fixed-point range.
    /// - Throws: when the gradient is not finite, or what `runMicroBatch` throws.
    public func accumulate(step: Int, microBatches: [Int], parallelism: Parallelism,
                           _ runMicroBatch: (_ index: Int, _ gradientsReady: ((Range<Int>) -> Void)?) throws -> Void) throws {
        self.parallelism = parallelism
        for attempt in 0 ..< 3 {
            begin()
            for index in microBatches {
                let last = index == microBatches.last
                // The last local micro-batch reports finished tensors so that their buckets start early.
                let report = overlap && last
                let span = Timeline.begin(.microBatch, index: index)
                try runMicroBatch(index, report ? gradientsReady : nil)
                microBatchDone(reportedWhileRunning: report, last: last)
                Timeline.end(span)
            }
            try waitForSlowestRank(step: step)
            let overflowed = try reduce()
            if !overflowed { return }
            guard maxima.allSatisfy({ $0.isFinite }) else {
                throw TrainerError("step \(step): the gradient is not finite (NaN or infinity); lower optimizer.lr or check the data")
            }
            log("step \(step): a gradient exceeded its fixed-point range; recomputing the step with wider exponents (attempt \(attempt + 2))")
            sum.chooseExponents(from: maxima)
            sum.clear(parallelism: parallelism)
        }
    }

    /// Writes the mean gradient (the sum over ranks divided by `tokens`) into
    /// `parameters.gradients`, chooses the next step's exponents from this step's maxima, and
    /// returns the global gradient norm (the same on every rank: same values, fixed order).
    public func finish(tokens: Double) -> Double {
        let region = StepProfile.begin("gradient mean and norm")
        defer { StepProfile.end(region) }
        let scale = 1 / tokens
        switch mode {
        case .exact:
            // Convert with this step's exponents, then choose the next step's.
            sum.write(into: parameters.gradients, scale: scale, parallelism: parallelism)
            sum.chooseExponents(from: maxima)
        case .float:
            let g = parameters.gradients.pointer, factor = Float(scale)
            parallelism.forEachPiece(count: parameters.count) { _, range in
                for i in range { g[i] *= factor }
            }
        }
        let g = parameters.gradients
        return Reductions.sumOfSquares(g.readPointer, count: g.count, parallelism: parallelism).squareRoot()
    }

    /// PyTorch's `clip_grad_norm_`: scales the gradient by `maxNorm / (norm + 1e-6)` when that is
    /// below 1; `maxNorm` 0 turns clipping off.
    public func clip(maxNorm: Double, norm: Double) {
        guard maxNorm > 0 && maxNorm / (norm + 1e-6) < 1 else { return }
        let g = parameters.gradients, factor = Float(maxNorm / (norm + 1e-6))
        parallelism.forEachPiece(count: g.count) { _, range in
            for i in range { g[i] *= factor }
        }
    }

    /// Applies `optimizer` to the parameters with the step's gradient, which it clears as it reads it.
    public func update(_ optimizer: AdamW, lr: Double) {
        let span = Timeline.begin(.optimizer)
        defer { Timeline.end(span) }
        optimizer.update(parameters, lr: Float(lr), parallelism: parallelism, clearGradients: true)
        gradientsAreClear = true
    }

    // MARK: - One attempt at a step

    private func begin() {
        if mode == .exact { sum.beginStep() }
        if !gradientsAreClear { clearGradients(parallelism: parallelism) }
        gradientsAreClear = false
        reportedFrom = parameters.entries.count
        allreduce.begin()
    }

    private func clearGradients(parallelism: Parallelism) {
        let region = StepProfile.begin("gradient clear")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: parameters.count) { _, range in
            (parameters.gradients.pointer + range.lowerBound).update(repeating: 0, count: range.count)
        }
    }

    /// Told by the last micro-batch's backward pass (when overlapping) that `entries` hold their
    /// final gradient: folds them into the sums and starts every bucket they complete.
    private func gradientsReady(_ entries: Range<Int>) {
        // Only the last micro-batch reports: its float gradients need not be cleared.
        if mode == .exact { sum.add(parameters.gradients, entries: entries, clear: false, parallelism: parallelism) }
        reportedFrom = min(reportedFrom, entries.lowerBound)
        allreduce.tensorsReady(from: reportedFrom)
    }

    /// After a micro-batch (exact mode): folds the tensors its backward did not report into the
    /// sums and clears them for the next micro-batch; after the last one the float gradients are
    /// overwritten by `finish`, so they are not cleared. In float mode gradients accumulate in place.
    private func microBatchDone(reportedWhileRunning: Bool, last: Bool) {
        guard mode == .exact else { return }
        let unreported = reportedWhileRunning ? 0 ..< reportedFrom : parameters.entries.indices
        sum.add(parameters.gradients, entries: unreported, clear: !last, parallelism: parallelism)
    }

    /// Waits until every rank has run its micro-batches (a check-in with the watchdog's deadline)
    /// and times it, so that the all-reduce time after it is communication alone (buckets already
    /// started keep progressing meanwhile).
    private func waitForSlowestRank(step: Int) throws {
        let region = StepProfile.begin("wait for the slowest rank")
        defer { StepProfile.end(region) }
        let span = Timeline.begin(.waitForSlowestRank)
        defer { Timeline.end(span) }
        guard communicator.size > 1 else { waitSeconds = 0; return }
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try watchdog.checkIn(0, at: "step \(step), end of the micro-batches")
        waitSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Finishes the all-reduce and (exact mode) agrees on the per-tensor maxima; returns whether
    /// some value overflowed on some rank.
    private func reduce() throws -> Bool {
        let region = StepProfile.begin("all-reduce")
        defer { StepProfile.end(region) }
        let span = Timeline.begin(.allreduceWait)
        defer { Timeline.end(span) }
        try allreduce.finish()
        guard mode == .exact else { return false }
        var agreed = sum.maxima.map { Double($0) } + [sum.overflowed ? 1 : 0]
        try agreed.withUnsafeMutableBufferPointer { try communicator.allreduceMax($0) }
        let overflowed = agreed.removeLast() > 0
        maxima = agreed.map { Float($0) }
        return overflowed
    }
}
