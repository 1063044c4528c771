import Foundation

/// Sums a flat buffer over all ranks (MPI_SUM) in buckets of whole tensors, each bucket with its
/// own non-blocking all-reduce, started as soon as all of its tensors are final.
///
/// Tensors are counted from the end of the buffer, because a backward pass finishes the last
/// tensors first: a bucket is a run of about `bucketElements` values (whole tensors) taken from
/// the end. One call per bucket keeps MPI's temporary memory bounded by a bucket, and starting
/// buckets while earlier layers are still being differentiated overlaps communication with
/// compute (PyTorch DDP's buckets, Horovod's tensor fusion).
///
/// It knows buffers and tensor ranges only; what the values mean (fixed-point gradient sums or
/// float gradients) is its caller's business.
public final class BucketedAllreduce {
    /// The buffer reduced: Int64 (exact sums) or Float.
    public enum Buffer {
        case int64(UnsafeMutablePointer<Int64>)
        case float(UnsafeMutablePointer<Float>)
    }

    let communicator: Communicator
    let buffer: Buffer
    /// Element range of each tensor, in buffer order.
    let tensors: [Range<Int>]
    /// Buckets as tensor ranges, in the order they become ready (last tensors first).
    let buckets: [Range<Int>]
    /// Number of buckets (one non-blocking all-reduce each).
    public var bucketCount: Int { buckets.count }
    private var started: [Communicator.Request?]
    private var readyFrom: Int  // tensors readyFrom..<count are final
    /// When each bucket's all-reduce started (`Timeline.now()`), while a trace window is open and
    /// its completion has not been seen yet; 0 otherwise.
    private var startedAt: [UInt64]
    /// Bytes of each bucket.
    private let bucketBytes: [Int]
    /// Seconds spent in MPI calls (starting, progressing and waiting) since `begin`.
    public private(set) var communicationSeconds = 0.0

    public init(tensors: [Range<Int>], buffer: Buffer, communicator: Communicator, bucketElements: Int = 1 << 20) {
        self.tensors = tensors
        self.buffer = buffer
        self.communicator = communicator
        var buckets: [Range<Int>] = []
        var end = tensors.count, size = 0
        for t in tensors.indices.reversed() {
            size += tensors[t].count
            if size >= bucketElements || t == 0 {
                buckets.append(t ..< end)
                end = t
                size = 0
            }
        }
        self.buckets = buckets
        let elementBytes: Int
        switch buffer {
        case .int64: elementBytes = MemoryLayout<Int64>.size
        case .float: elementBytes = MemoryLayout<Float>.size
        }
        bucketBytes = buckets.map { tensors[$0.lowerBound].lowerBound ..< tensors[$0.upperBound - 1].upperBound }
            .map { $0.count * elementBytes }
        startedAt = buckets.map { _ in 0 }
        started = buckets.map { _ in nil }
        readyFrom = tensors.count
    }

    /// Forgets the last reduction: no bucket started, no tensor final.
    public func begin() {
        started = buckets.map { _ in nil }
        readyFrom = tensors.count
        communicationSeconds = 0
        for b in startedAt.indices { startedAt[b] = 0 }
    }

    /// Tensors `tensor..<count` now hold their final local values: starts every bucket they
    /// complete, and lets MPI progress the buckets in flight (Open MPI progresses non-blocking
    /// collectives only inside MPI calls).
    public func tensorsReady(from tensor: Int) {
        startReady(from: tensor, afterMicroBatches: false)
    }

    /// `tensorsReady`; `afterMicroBatches` tells the trace where a completion is seen.
    private func startReady(from tensor: Int, afterMicroBatches: Bool) {
        let region = StepProfile.begin("all-reduce")
        defer { StepProfile.end(region) }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        readyFrom = min(readyFrom, tensor)
        for (b, bucket) in buckets.enumerated() where started[b] == nil && bucket.lowerBound >= readyFrom {
            let elements = tensors[bucket.lowerBound].lowerBound ..< tensors[bucket.upperBound - 1].upperBound
            do {
                switch buffer {
                case .int64(let values):
                    started[b] = try communicator.startAllreduceSum(
                        UnsafeMutableBufferPointer(start: values + elements.lowerBound, count: elements.count))
                case .float(let values):
                    started[b] = try communicator.startAllreduceSum(
                        UnsafeMutableBufferPointer(start: values + elements.lowerBound, count: elements.count))
                }
            } catch {
                communicator.abort("\(error)")
            }
            if Timeline.isRecording { startedAt[b] = Timeline.now() }
        }
        for b in started.indices {
            if let request = started[b], (try? request.test()) == true { completionSeen(b, atWait: afterMicroBatches) }
        }
    }

    /// Records bucket `b`'s span in the trace the first time its completion is seen (only while a
    /// trace window is open: `startedAt[b]` is 0 otherwise).
    @inline(__always)
    private func completionSeen(_ b: Int, atWait: Bool) {
        guard startedAt[b] != 0 else { return }
        Timeline.record(Timeline.Event(span: .bucket, start: startedAt[b], end: Timeline.now(), step: Timeline.step, index: b,
                                       bytes: bucketBytes[b], completionSeenAtWait: atWait))
        startedAt[b] = 0
    }

    /// Starts whatever is left and waits for every bucket: the buffer then holds the sum over ranks.
    public func finish() throws {
        let region = StepProfile.begin("all-reduce")
        defer { StepProfile.end(region) }
        startReady(from: 0, afterMicroBatches: true)
        let start = DispatchTime.now().uptimeNanoseconds
        defer { communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        for b in started.indices {
            guard let request = started[b] else { continue }
            try request.wait()
            completionSeen(b, atWait: true)
        }
    }
}
