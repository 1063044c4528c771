import Foundation

/// The ranks' check-ins, each with a deadline, so that a rank that stops (SIGSTOP, a hung file
/// system, a wedged node) stops the job with its name instead of hanging it forever.
///
/// A check-in is a small all-reduce (the largest of one Int64 per rank) made of point-to-point
/// messages to and from rank 0, polled by the main thread: rank 0 knows which ranks have not
/// reported when the deadline passes and names them; a rank that rank 0 does not answer names
/// rank 0. Either way the job ends with `MPI_Abort`, as for any rank's error. A rank that dies
/// outright is detected by Open MPI itself, in about a second.
public final class Watchdog {
    let communicator: Communicator
    /// Seconds to wait at a check-in; set by the trainer from the step times.
    public var timeout: Double
    private var sequence: Int32 = 0

    /// Waiting between polls: spinning (yielding the core) for the first millisecond, when the
    /// answer is usually about to come, then 50 µs sleeps; `next()` says when the deadline passed.
    struct Pause {
        let start = DispatchTime.now().uptimeNanoseconds
        let timeout: Double

        func next() -> Bool {
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if elapsed > timeout { return true }
            if elapsed < 1e-3 { sched_yield() } else { usleep(50) }
            return false
        }
    }

    public init(communicator: Communicator, timeout: Double) {
        self.communicator = communicator
        self.timeout = timeout
    }

    /// The largest `value` over ranks, agreed at `what` (for the message); aborts the job when a
    /// rank is more than `timeout` seconds late.
    public func checkIn(_ value: Int64, at what: @autoclosure () -> String) throws -> Int64 {
        let W = communicator.size
        guard W > 1 else { return value }
        // Tags pair the messages of one check-in (they are sent in the same order on every rank).
        sequence = sequence &+ 1
        let tag = 1000 + (sequence % 30000) * 2  // a probe (`stalled`) uses 41002
        let values = UnsafeMutablePointer<Int64>.allocate(capacity: W)
        defer { values.deallocate() }
        values[0] = value
        if communicator.rank == 0 {
            let receives = try (1 ..< W).map { try communicator.startReceive(values + $0, from: $0, tag: tag) }
            var pending = Array(1 ..< W)
            let pause = Pause(timeout: timeout)
            while !pending.isEmpty {
                pending = try pending.filter { try !receives[$0 - 1].test() }
                if pending.isEmpty { break }
                if pause.next() {
                    communicator.abort("\(what()): rank\(pending.count > 1 ? "s" : "") \(pending.map(String.init).joined(separator: ", ")) did not check in within \(Int(timeout)) s (stopped, hung or on a stuck file system?); stopping the job (watchdog_seconds)")
                }
            }
            let agreed = (0 ..< W).map { values[$0] }.max()!
            for r in 1 ..< W { values[r] = agreed }
            let sends = try (1 ..< W).map { try communicator.startSend(values + $0, to: $0, tag: tag + 1) }
            try wait(for: sends, what: what(), late: "a rank")
            return agreed
        } else {
            values[1] = 0
            let send = try communicator.startSend(values, to: 0, tag: tag)
            let receive = try communicator.startReceive(values + 1, from: 0, tag: tag + 1)
            try wait(for: [send, receive], what: what(), late: "rank 0")
            return values[1]
        }
    }

    private func wait(for requests: [Communicator.Request], what: @autoclosure () -> String, late: String) throws {
        let pause = Pause(timeout: timeout)
        var pending = requests
        while !pending.isEmpty {
            pending = try pending.filter { try !$0.test() }
            if pending.isEmpty { return }
            if pause.next() {
                communicator.abort("\(what()): \(late) did not answer within \(Int(timeout)) s (stopped, hung or on a stuck file system?); stopping the job (watchdog_seconds)")
            }
        }
    }

    /// Called when a collective (`call`) has waited `timeout` seconds: every live rank is stuck in
    /// it too, so all of them check in once more, on their own tags, with a short deadline; the
    /// ranks that do not answer are named by that check-in, which stops the job. If all answer,
    /// the collective itself is stuck, and the job stops saying so.
    func stalled(in call: String) -> Never {
        let saved = (timeout, sequence)
        timeout = min(timeout, 30)
        sequence = 20000  // the probe's tags, the same on every rank whatever their sequence
        _ = try? checkIn(0, at: "a collective (\(call)) waited \(Int(saved.0)) s")
        communicator.abort("a collective (\(call)) waited \(Int(saved.0)) s although every rank answers; stopping the job (watchdog_seconds)")
    }

    /// The automatic timeout: 20 × the median of `stepSeconds`, at least 300 s.
    public static func automaticTimeout(stepSeconds: [Double]) -> Double {
        guard !stepSeconds.isEmpty else { return 300 }
        let sorted = stepSeconds.sorted()
        return max(300, 20 * sorted[sorted.count / 2])
    }
}
