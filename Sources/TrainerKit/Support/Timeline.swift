import Foundation

/// The per-rank timeline behind `trace: true` (`trainer train --trace`): spans of a training step
/// (each micro-batch's forward and backward, each gradient bucket's all-reduce from its start to its
/// observed completion, the optimizer, evaluation, checkpoint writes), recorded on this rank's own
/// clock. `TraceSession` opens and closes the window; `TraceFile` turns the events into a Chrome
/// trace-event file.
///
/// Code marks a span as `let span = Timeline.begin(.forward, index: i)` and
/// `defer { Timeline.end(span) }`. Outside the window (always, unless tracing) that is one branch
/// at each end and no allocation (`StepProfile`'s switch). Inside it, an event is appended to a
/// buffer reserved when the window opens. Only the main thread records (it alone runs the step;
/// the kernels' worker threads run inside its spans).
public enum Timeline {
    /// What a span is. The raw value is stable (events store it).
    public enum Span: UInt8, CaseIterable, Sendable {
        /// One optimizer step of the training loop, from the check-in at its start to its log line.
        case step
        /// Evaluation of both splits (when due at the step's start).
        case evaluation
        /// Writing run_dir/ckpt.h5 (rank 0, when due).
        case checkpoint
        /// The cross-rank parameter checksum (`sync_check_interval`).
        case parameterCheck
        /// One micro-batch: forward, backward, and folding its gradient into the exact sums.
        case microBatch
        /// A micro-batch's forward pass, loss included.
        case forward
        /// A micro-batch's backward pass (the last one starts the bucket all-reduces as it goes).
        case backward
        /// The check-in after the micro-batches: waiting for the slowest rank.
        case waitForSlowestRank
        /// Blocked in the all-reduce after the check-in: starting what is left, waiting for every
        /// bucket, agreeing on the per-tensor maxima (communication the backward did not hide).
        case allreduceWait
        /// The loss, token and FLOP totals over ranks (four small all-reduces).
        case totals
        /// The mean gradient, its norm, and clipping.
        case gradientFinish
        /// The AdamW update.
        case optimizer
        /// One gradient bucket's non-blocking all-reduce, from `MPI_Iallreduce` to the MPI call
        /// that saw it complete (its own lane).
        case bucket

        /// The span's name in the trace.
        public var name: String {
            switch self {
            case .step: "step"
            case .evaluation: "evaluation"
            case .checkpoint: "checkpoint write"
            case .parameterCheck: "parameter check"
            case .microBatch: "micro-batch"
            case .forward: "forward"
            case .backward: "backward"
            case .waitForSlowestRank: "wait for the slowest rank"
            case .allreduceWait: "all-reduce wait"
            case .totals: "loss totals"
            case .gradientFinish: "gradient mean, norm, clip"
            case .optimizer: "optimizer"
            case .bucket: "all-reduce"
            }
        }
    }

    /// One finished span, on this rank's clock (nanoseconds of `now()`).
    public struct Event: Sendable, Equatable {
        public var span: Span
        public var start: UInt64
        public var end: UInt64
        /// The training step it belongs to.
        public var step: Int32
        /// The micro-batch (forward, backward, micro-batch) or bucket; -1 when none.
        public var index: Int32
        /// A bucket's size in bytes; 0 otherwise.
        public var bytes: Int64
        /// A bucket whose completion was seen only in the all-reduce wait after the micro-batches
        /// (by its first `MPI_Test` or by the wait: it may have completed earlier, during the
        /// check-in); false when an `MPI_Test` during the backward saw it.
        public var completionSeenAtWait: Bool

        public init(span: Span, start: UInt64, end: UInt64, step: Int, index: Int = -1, bytes: Int = 0,
                    completionSeenAtWait: Bool = false) {
            self.span = span
            self.start = start
            self.end = end
            self.step = Int32(truncatingIfNeeded: step)
            self.index = Int32(truncatingIfNeeded: index)
            self.bytes = Int64(bytes)
            self.completionSeenAtWait = completionSeenAtWait
        }
    }

    /// An open span: what `end` needs. `start` 0 means not recording.
    public struct Token {
        let span: Span
        let start: UInt64
        let index: Int32
    }

    /// Whether a window is open (set by `start`, cleared by `stop`); read at every span.
    nonisolated(unsafe) public private(set) static var isRecording = false
    /// The step the spans belong to (set by the training loop at each step's start).
    nonisolated(unsafe) public static var step = 0
    nonisolated(unsafe) private static var events: [Event] = []

    /// This process's monotonic clock, in nanoseconds (the clock of every event).
    @inline(__always)
    public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Opens a span of kind `span` (`index`: its micro-batch, if any).
    @inline(__always)
    public static func begin(_ span: Span, index: Int = -1) -> Token {
        guard isRecording else { return Token(span: span, start: 0, index: -1) }
        return Token(span: span, start: now(), index: Int32(truncatingIfNeeded: index))
    }

    /// Closes a span opened by `begin`.
    @inline(__always)
    public static func end(_ token: Token) {
        if token.start != 0 { append(Event(span: token.span, start: token.start, end: now(), step: step, index: Int(token.index))) }
    }

    /// Records a span measured by its owner (a bucket's all-reduce); only while recording.
    public static func record(_ event: Event) {
        if isRecording { append(event) }
    }

    private static func append(_ event: Event) {
        events.append(event)  // within the capacity reserved by `start`, no allocation
    }

    /// Opens the window with room for `capacity` events (more still fit, at the cost of a reallocation).
    public static func start(capacity: Int) {
        events = []
        events.reserveCapacity(capacity)
        isRecording = true
    }

    /// Closes the window; returns its events in the order they ended.
    public static func stop() -> [Event] {
        isRecording = false
        defer { events = [] }
        return events
    }
}
