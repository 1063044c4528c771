import Foundation

/// How gradients are summed over micro-batches and ranks.
public enum ReductionMode: String, Sendable {
    /// Int64 fixed point (`GradientSum`), MPI_SUM on integers: bit-identical for any number of ranks.
    case exact
    /// Plain float32 accumulation and MPI_SUM on floats (the usual way; order-dependent rounding).
    case float
}

/// Sums one step's gradients over this rank's micro-batches and over all ranks, in buckets.
///
/// The parameters are cut into buckets of about `bucketElements` (whole tensors, counted from the
/// end of the layout, because the backward pass finishes the last tensors first). Each bucket is
/// all-reduced with its own non-blocking call, so MPI's temporary memory stays bounded by a bucket,
/// and — when `overlap` is on — a bucket is started as soon as the last micro-batch's backward has
/// finished its tensors, while the earlier layers are still being differentiated.
public final class GradientReducer {
    public let mode: ReductionMode
    public var overlap: Bool
    let communicator: Communicator
    let store: ParameterStore
    /// The exact accumulator (exact mode).
    public let sum: GradientSum
    /// Buckets as entry ranges, in the order they become ready (last tensors first).
    let buckets: [Range<Int>]
    private var started: [Communicator.Request?]
    private var readyFrom: Int  // entries readyFrom..<count are final for this step
    private var parallelism = Parallelism.serial
    /// Seconds spent in MPI calls (starting, progressing and waiting for the all-reduce) this step.
    public private(set) var communicationSeconds = 0.0

    public init(store: ParameterStore, communicator: Communicator, mode: ReductionMode, microBatchesPerStep: Int,
                overlap: Bool, bucketElements: Int = 1 << 20) {
        self.store = store
        self.communicator = communicator
        self.mode = mode
        self.overlap = overlap
        sum = GradientSum(entries: store.entries, microBatchesPerStep: microBatchesPerStep)
        var buckets: [Range<Int>] = []
        var end = store.entries.count, size = 0
        for t in store.entries.indices.reversed() {
            size += store.entries[t].count
            if size >= bucketElements || t == 0 {
                buckets.append(t ..< end)
                end = t
                size = 0
            }
        }
        self.buckets = buckets
        started = buckets.map { _ in nil }
        readyFrom = store.entries.count
    }

    /// Element range of a bucket in the flat buffers.
    private func elements(_ bucket: Range<Int>) -> Range<Int> {
        let first = store.entries[bucket.lowerBound], last = store.entries[bucket.upperBound - 1]
        return first.offset ..< last.offset + last.count
    }

    /// Whether `store.gradients` is known to be zero (the optimizer clears it as it reads it).
    public var gradientsAreZero = false

    /// Clears the sums and the gradients before a step (or a retry of it).
    public func beginStep(parallelism: Parallelism) {
        self.parallelism = parallelism
        if mode == .exact { sum.reset(parallelism: parallelism) }
        if !gradientsAreZero {
            parallelism.forEachPiece(count: store.count) { _, range in
                (store.gradients.pointer + range.lowerBound).update(repeating: 0, count: range.count)
            }
        }
        gradientsAreZero = false
        started = buckets.map { _ in nil }
        readyFrom = store.entries.count
        communicationSeconds = 0
    }

    /// Called by the backward pass of the last local micro-batch (when overlapping): `entries` now
    /// hold their final gradient. Adds them to the sums and starts every bucket that is complete.
    public func gradientsReady(_ entries: Range<Int>) {
        // Only the last micro-batch reports: its float gradients need not be cleared.
        if mode == .exact { sum.add(store.gradients, entries: entries, clear: false, parallelism: parallelism) }
        readyFrom = min(readyFrom, entries.lowerBound)
        startReadyBuckets()
    }

    /// After a micro-batch's forward and backward. In exact mode, folds the float gradients into the
    /// integer sums (those of the last micro-batch were already folded if it reported them) and
    /// clears them for the next micro-batch.
    public func microBatchDone(reportedWhileRunning: Bool, last: Bool) {
        guard mode == .exact else { return }  // float gradients keep accumulating in place
        // Entries the backward pass did not report (all of them if it reported none). After the
        // last micro-batch the float gradients are overwritten by `writeMean`: no need to clear.
        let unreported = reportedWhileRunning ? 0 ..< readyFrom : store.entries.indices
        sum.add(store.gradients, entries: unreported, clear: !last, parallelism: parallelism)
    }

    private func startReadyBuckets() {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        for (b, bucket) in buckets.enumerated() where started[b] == nil && bucket.lowerBound >= readyFrom {
            let range = elements(bucket)
            do {
                switch mode {
                case .exact:
                    started[b] = try communicator.startAllreduceSum(
                        UnsafeMutableBufferPointer(start: sum.sums + range.lowerBound, count: range.count))
                case .float:
                    started[b] = try communicator.startAllreduceSum(
                        UnsafeMutableBufferPointer(start: store.gradients.pointer + range.lowerBound, count: range.count))
                }
            } catch {
                communicator.abort("\(error)")
            }
        }
        // Let MPI progress the buckets in flight (Open MPI progresses non-blocking collectives only
        // inside MPI calls).
        for request in started.compactMap({ $0 }) { _ = try? request.test() }
    }

    /// Starts whatever is left, waits for every bucket, and (exact mode) agrees on the maxima.
    /// Returns the per-tensor maxima over all ranks and whether some value overflowed.
    public func finish() throws -> (maxima: [Float], overflowed: Bool) {
        readyFrom = 0
        startReadyBuckets()
        let start = DispatchTime.now().uptimeNanoseconds
        defer { communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        for request in started.compactMap({ $0 }) { try request.wait() }
        guard mode == .exact else { return ([], false) }
        var maxima = sum.maxima.map { Double($0) } + [sum.overflowed ? 1 : 0]
        try maxima.withUnsafeMutableBufferPointer { try communicator.allreduceMax($0) }
        let overflowed = maxima.removeLast() > 0
        return (maxima.map { Float($0) }, overflowed)
    }

    /// Writes the summed gradient times `scale` (1/tokens: the mean) into `store.gradients`.
    public func writeMean(scale: Double) {
        switch mode {
        case .exact:
            sum.write(into: store.gradients, scale: scale, parallelism: parallelism)
        case .float:
            let g = store.gradients.pointer, factor = Float(scale)
            parallelism.forEachPiece(count: store.count) { _, range in
                for i in range { g[i] *= factor }
            }
        }
    }
}
