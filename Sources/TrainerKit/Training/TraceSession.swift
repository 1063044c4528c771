import Foundation

/// The trace window of a run (`trace: true`, `trainer train --trace`): it opens at the start of the
/// step `trace_skip_steps` after the one the run starts at, and closes `trace_steps` steps later
/// (or at the end of the run, with the final evaluation and checkpoint). At both ends, outside the
/// steps recorded, every rank measures its clock against rank 0's (`ClockOffset`). At the close
/// each rank converts its events to the common time axis, rank 0 gathers the ranks' parts over MPI
/// (no shared file system needed), writes run_dir/trace.json atomically and prints one summary line.
final class TraceSession {
    let communicator: Communicator
    let path: String
    /// The window: steps `firstStep ..< endStep` (clipped by the end of the run).
    let firstStep: Int, endStep: Int
    /// The run's last step + 1 (`schedule.max_steps`).
    let maxSteps: Int
    /// Events reserved for the window.
    let capacity: Int
    let log: (String) -> Void
    private var opening: ClockOffset?
    private var origin: UInt64 = 0
    /// The last step whose start the window saw.
    private var lastStep = 0
    private(set) var isOpen = false, isClosed = false

    /// - Parameters:
    ///   - startStep: the step this process starts at (0, or the step resumed).
    ///   - eventsPerStep: a generous bound on one step's events (micro-batches, buckets).
    init(config: RunConfig, startStep: Int, eventsPerStep: Int, communicator: Communicator, log: @escaping (String) -> Void) {
        self.communicator = communicator
        path = config.runDirectory + "/trace.json"
        firstStep = startStep + config.traceSkipSteps
        endStep = firstStep + config.traceSteps
        maxSteps = config.schedule.maxSteps
        capacity = config.traceSteps * eventsPerStep + 256
        self.log = log
        if firstStep >= config.schedule.maxSteps {
            log("trace: this run ends at step \(config.schedule.maxSteps), before the trace window (trace_skip_steps \(config.traceSkipSteps) after step \(startStep)) opens; no trace will be written")
        }
    }

    /// Called by every rank at the start of each step (and once after the last, with `maxSteps`):
    /// opens or closes the window.
    func stepBegins(_ step: Int) throws {
        if isOpen && step >= endStep { try close() }
        if !isOpen && !isClosed && step == firstStep { try open() }
        if isOpen {
            Timeline.step = step
            lastStep = min(step, maxSteps - 1)  // the call after the last step belongs to no step
        }
    }

    /// Closes the window if it is open (the end of the run, or a stop signal).
    func finish() throws {
        if isOpen { try close() }
    }

    private func open() throws {
        opening = try ClockOffset.measure(communicator: communicator)
        var time = [Timeline.now()]
        try time.withUnsafeMutableBytes { try communicator.broadcast($0) }
        origin = time[0]
        isOpen = true
        Timeline.start(capacity: capacity)
    }

    private func close() throws {
        let events = Timeline.stop()
        isOpen = false
        isClosed = true
        let closing = try ClockOffset.measure(communicator: communicator)
        let clock = TraceFile.Clock(origin: origin, opening: opening!, closing: closing)
        let part = TraceFile.rankEvents(events, rank: communicator.rank, clock: clock)
        let parts = try communicator.gather(Array(part.utf8))
        var total = TraceFile.Overlap(events).values
        try total.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        let error = try communicator.max(Double(clock.error))
        guard communicator.isRoot else { return }
        let W = communicator.size
        let stepRange = lastStep > firstStep ? "\(firstStep)–\(lastStep)" : "\(firstStep)"
        let document = TraceFile.document(parts: parts.map { String(decoding: $0, as: UTF8.self) }, otherData: [
            ("steps", stepRange), ("ranks", "\(W)"),
            ("clock_alignment", String(format: "every rank's clock mapped to rank 0's within %.1f µs (ping-pong at the window's two ends, linear in between)", error / 1000)),
            ("writer", "trainer train --trace"),
        ])
        do {
            try AtomicFile.write(to: path) { temporary in
                guard FileManager.default.createFile(atPath: temporary, contents: Data(document.utf8)) else {
                    throw TrainerError("\(path): cannot write it (\(String(cString: strerror(errno))))")
                }
            }
        } catch {
            // A trace is a diagnostic: the run goes on without it.
            log("trace: \(error)")
            return
        }
        log(TraceFile.summary(path: path, steps: stepRange, ranks: W, alignment: error, overlap: TraceFile.Overlap(values: total)))
    }
}
