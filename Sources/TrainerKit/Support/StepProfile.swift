import Foundation

/// Where a training step's time goes, kernel by kernel (`trainer bench step --profile`; PyTorch's
/// `torch.profiler` `key_averages()` by self time).
///
/// A kernel marks its body with `let region = StepProfile.begin("layer norm forward")` and
/// `defer { StepProfile.end(region) }`. When profiling is off (always, outside the benchmark) that
/// is one branch. When on, only outermost regions record: a kernel that calls another inside its
/// own region (the tiled attention converting its tiles to bf16, say) is charged for both, so the
/// entries never add up to more than the time measured, and inner loops cost no bookkeeping. Only
/// the thread that called `reset` records; the kernels' worker threads run inside its regions.
public enum StepProfile {
    /// One kernel's totals since `reset`.
    public struct Entry: Sendable {
        public var name: String
        public var seconds: Double
        public var calls: Int
    }

    /// Set by the benchmark; read at every region.
    nonisolated(unsafe) public static var isEnabled = false
    nonisolated(unsafe) private static var entries: [String: Entry] = [:]
    /// The open outermost region: (name, start).
    nonisolated(unsafe) private static var open: (name: String, start: UInt64)?
    nonisolated(unsafe) private static var recorder: pthread_t?

    /// Opens a region named `name`; returns the token `end` takes (-1: not recorded).
    @inline(__always)
    public static func begin(_ name: String) -> Int {
        guard isEnabled else { return -1 }
        return beginRecording(name)
    }

    @inline(__always)
    public static func end(_ token: Int) {
        if token >= 0 { endRecording(token) }
    }

    /// Starts recording on the calling thread, from zero.
    public static func reset() {
        entries = [:]
        open = nil
        recorder = pthread_self()
        isEnabled = true
    }

    /// Stops recording; returns every kernel's totals, most time first.
    public static func finish() -> [Entry] {
        isEnabled = false
        return entries.values.sorted { $0.seconds != $1.seconds ? $0.seconds > $1.seconds : $0.name < $1.name }
    }

    private static func beginRecording(_ name: String) -> Int {
        guard open == nil, let recorder, pthread_equal(recorder, pthread_self()) != 0 else { return -1 }
        open = (name, DispatchTime.now().uptimeNanoseconds)
        return 0
    }

    private static func endRecording(_ token: Int) {
        guard let region = open else { preconditionFailure("StepProfile: end without begin") }
        open = nil
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - region.start) / 1e9
        entries[region.name, default: Entry(name: region.name, seconds: 0, calls: 0)].seconds += seconds
        entries[region.name]!.calls += 1
    }
}
