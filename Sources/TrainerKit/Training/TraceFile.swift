import Foundation

/// `Timeline` events as a Chrome trace-event file (the JSON object format that chrome://tracing,
/// Perfetto's ui.perfetto.dev and Horovod's timeline use): complete events (`"ph": "X"`) with
/// `ts` and `dur` in microseconds, one process (`pid`) per rank named "rank N", and lanes (`tid`)
/// in it: 0 for the main thread's work ("compute"), 1 + b for gradient bucket b's all-reduce.
///
/// A rank writes its own part (`rankEvents`) on the common time axis (`Clock`); rank 0 joins the
/// parts into one document (`document`). `Overlap` measures how much of the all-reduce the
/// backward pass hides.
public enum TraceFile {
    /// Maps a rank's clock (nanoseconds) to the trace's axis: rank 0's clock, in microseconds from
    /// `origin`. The offset to rank 0's clock is measured when the window opens and when it closes
    /// (`ClockOffset`) and interpolated linearly in between (clocks of different machines drift).
    public struct Clock: Sendable, Equatable {
        /// Rank 0's clock when the window opened: time 0 of the trace.
        public var origin: UInt64
        public var opening: ClockOffset
        public var closing: ClockOffset

        public init(origin: UInt64, opening: ClockOffset, closing: ClockOffset) {
            self.origin = origin
            self.opening = opening
            self.closing = closing
        }

        /// The bound on the alignment error, in nanoseconds (the larger of the two measurements').
        public var error: UInt64 { max(opening.error, closing.error) }

        /// This rank's clock reading `time` on the trace's axis, in microseconds.
        public func microseconds(_ time: UInt64) -> Double {
            let interval = Double(Int64(bitPattern: closing.measuredAt &- opening.measuredAt))
            let fraction = interval > 0 ? Double(Int64(bitPattern: time &- opening.measuredAt)) / interval : 0
            let offset = Double(opening.offset) + fraction * Double(closing.offset - opening.offset)
            return (Double(Int64(bitPattern: time &- origin)) + offset) / 1000
        }
    }

    /// Lane (`tid`) of the main thread's spans; bucket b's all-reduce is on lane 1 + b.
    public static let computeLane = 0

    /// One rank's part of the trace: its metadata (process and lane names) and its events sorted
    /// by start (an enclosing span before the spans it contains), as JSON objects separated by
    /// ",\n", without the enclosing brackets.
    public static func rankEvents(_ events: [Timeline.Event], rank: Int, clock: Clock) -> String {
        var lines: [String] = []
        let errorText = String(format: "clock aligned to rank 0 within %.1f µs", Double(clock.error) / 1000)
        lines.append(#"{"name":"process_name","ph":"M","pid":\#(rank),"tid":0,"args":{"name":"rank \#(rank)"}}"#)
        lines.append(#"{"name":"process_sort_index","ph":"M","pid":\#(rank),"tid":0,"args":{"sort_index":\#(rank)}}"#)
        lines.append(#"{"name":"process_labels","ph":"M","pid":\#(rank),"tid":0,"args":{"labels":"\#(errorText)"}}"#)
        lines.append(#"{"name":"thread_name","ph":"M","pid":\#(rank),"tid":\#(computeLane),"args":{"name":"compute (main thread)"}}"#)
        lines.append(#"{"name":"thread_sort_index","ph":"M","pid":\#(rank),"tid":\#(computeLane),"args":{"sort_index":0}}"#)
        var bucketBytes: [Int: Int64] = [:]
        for event in events where event.span == .bucket { bucketBytes[Int(event.index)] = event.bytes }
        for (bucket, bytes) in bucketBytes.sorted(by: { $0.key < $1.key }) {
            let lane = 1 + bucket
            let size = String(format: "%.2f MB", Double(bytes) / 1e6)
            lines.append(#"{"name":"thread_name","ph":"M","pid":\#(rank),"tid":\#(lane),"args":{"name":"all-reduce bucket \#(bucket) (\#(size))"}}"#)
            lines.append(#"{"name":"thread_sort_index","ph":"M","pid":\#(rank),"tid":\#(lane),"args":{"sort_index":\#(lane)}}"#)
        }
        let sorted = events.sorted { $0.start != $1.start ? $0.start < $1.start : $0.end > $1.end }
        for event in sorted { lines.append(json(event, rank: rank, clock: clock)) }
        return lines.joined(separator: ",\n")
    }

    /// One event as a JSON object.
    static func json(_ event: Timeline.Event, rank: Int, clock: Clock) -> String {
        let start = clock.microseconds(event.start), end = clock.microseconds(event.end)
        let ts = String(format: "%.3f", start), dur = String(format: "%.3f", max(0, end - start))
        let step = Int(event.step), index = Int(event.index)
        let name: String, category: String, lane: Int, args: String
        switch event.span {
        case .step:
            (name, category, lane, args) = ("step \(step)", "step", computeLane, #""step":\#(step)"#)
        case .microBatch:
            (name, category, lane, args) = ("micro-batch \(index)", "compute", computeLane,
                                            #""step":\#(step),"micro_batch":\#(index)"#)
        case .forward, .backward:
            (name, category, lane, args) = ("\(event.span.name) \(index)", "compute", computeLane,
                                            #""step":\#(step),"micro_batch":\#(index)"#)
        case .bucket:
            let seen = event.completionSeenAtWait
                ? "seen in the all-reduce wait after the micro-batches (it may have completed earlier)"
                : "seen by an MPI_Test during the backward"
            (name, category, lane, args) = ("all-reduce bucket \(index)", "communication", 1 + index,
                                            #""step":\#(step),"bucket":\#(index),"bytes":\#(event.bytes),"completion":"\#(seen)""#)
        case .waitForSlowestRank, .allreduceWait, .totals:
            (name, category, lane, args) = (event.span.name, "communication", computeLane, #""step":\#(step)"#)
        case .evaluation, .checkpoint, .parameterCheck, .gradientFinish, .optimizer:
            (name, category, lane, args) = (event.span.name, "compute", computeLane, #""step":\#(step)"#)
        }
        return #"{"name":"\#(name)","cat":"\#(category)","ph":"X","pid":\#(rank),"tid":\#(lane),"ts":\#(ts),"dur":\#(dur),"args":{\#(args)}}"#
    }

    /// The whole file: every rank's part (in rank order) in one `traceEvents` array, milliseconds as
    /// the display unit, and `otherData` (shown by chrome://tracing's metadata view).
    public static func document(parts: [String], otherData: [(String, String)]) -> String {
        let other = otherData.map { key, value in "\(quoted(key)):\(quoted(value))" }.joined(separator: ",")
        let events = parts.filter { !$0.isEmpty }.joined(separator: ",\n")
        return "{\"displayTimeUnit\":\"ms\",\"otherData\":{\(other)},\"traceEvents\":[\n\(events)\n]}\n"
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String { JSONText.quoted(text) }
}

// MARK: - Overlap of communication and backward

extension TraceFile {
    /// The line rank 0 prints: the file, the window, and the overlap of the all-reduce with the
    /// backward passes (per step, averaged over the ranks).
    public static func summary(path: String, steps: String, ranks: Int, alignment: Double, overlap total: TraceFile.Overlap) -> String {
        let perStep = 1e3 / Double(max(1, total.steps))  // seconds summed over ranks → ms per step per rank
        func ms(_ seconds: Double) -> Double { seconds * perStep }
        func share(_ part: Double, _ whole: Double) -> Double { whole > 0 ? 100 * part / whole : 0 }
        var line = String(format: "trace: %@, steps %@, %d rank%@ (clocks aligned within %.1f µs)", path, steps, ranks,
                          ranks == 1 ? "" : "s", alignment / 1000)
        guard ranks > 1 else { return line + "; one rank: nothing to all-reduce" }
        guard total.backward > 0 else {
            // The translator does not mark its forward and backward passes (only its micro-batches).
            return line + String(format: "; bucket all-reduce in flight %.2f ms/step, waiting on it after the micro-batches %.2f ms/step (this model's backward passes are not marked)",
                                 ms(total.inFlight), ms(total.exposedWait))
        }
        line += String(format: "; bucket all-reduce in flight %.2f ms/step, %.0f%% of it during the backward (%.2f ms/step), ",
                       ms(total.inFlight), share(total.inFlightDuringBackward, total.inFlight), ms(total.inFlightDuringBackward))
        line += String(format: "covering %.0f%% of the last micro-batch's backward (%.2f ms/step) and %.0f%% of all backward time; ",
                       share(total.inFlightDuringBackward, total.lastBackward), ms(total.lastBackward),
                       share(total.inFlightDuringBackward, total.backward))
        line += String(format: "waiting on it after the micro-batches %.2f ms/step", ms(total.exposedWait))
        return line
    }

    /// How much of one rank's gradient all-reduce ran while a backward pass did, in seconds over
    /// the window. "In flight" is the union of the bucket spans (from the start of a bucket's
    /// non-blocking all-reduce to the MPI call that saw it complete), so several buckets at once
    /// count once.
    public struct Overlap: Sendable, Equatable {
        /// Steps in the window (step spans).
        public var steps = 0
        /// Time with at least one bucket all-reduce in flight.
        public var inFlight = 0.0
        /// Of `inFlight`, the time during a backward pass.
        public var inFlightDuringBackward = 0.0
        /// Every backward pass.
        public var backward = 0.0
        /// The backward pass of each step's last micro-batch (the one that starts the buckets).
        public var lastBackward = 0.0
        /// Blocked in the all-reduce after the micro-batches (`Timeline.Span.allreduceWait`).
        public var exposedWait = 0.0

        public init() {}

        /// The fields as an array (to sum over ranks), and back.
        public var values: [Double] { [Double(steps), inFlight, inFlightDuringBackward, backward, lastBackward, exposedWait] }
        public init(values: [Double]) {
            steps = Int(values[0])
            (inFlight, inFlightDuringBackward, backward, lastBackward, exposedWait) = (values[1], values[2], values[3], values[4], values[5])
        }

        /// Measures one rank's events (its own clock: no alignment needed).
        public init(_ events: [Timeline.Event]) {
            let buckets = TraceFile.union(events.filter { $0.span == .bucket }.map { ($0.start, $0.end) })
            let backwards = events.filter { $0.span == .backward }
            let backwardUnion = TraceFile.union(backwards.map { ($0.start, $0.end) })
            var last: [Int32: Timeline.Event] = [:]
            for event in backwards where last[event.step].map({ event.start > $0.start }) ?? true { last[event.step] = event }
            steps = Set(events.filter { $0.span == .step }.map(\.step)).count
            inFlight = TraceFile.seconds(buckets)
            inFlightDuringBackward = TraceFile.seconds(TraceFile.intersection(buckets, backwardUnion))
            backward = TraceFile.seconds(backwardUnion)
            lastBackward = last.values.reduce(0) { $0 + Double($1.end - $1.start) / 1e9 }
            exposedWait = events.filter { $0.span == .allreduceWait }.reduce(0) { $0 + Double($1.end - $1.start) / 1e9 }
        }
    }

    /// Sorted, disjoint intervals covering the same time as `intervals`.
    static func union(_ intervals: [(UInt64, UInt64)]) -> [(UInt64, UInt64)] {
        var result: [(UInt64, UInt64)] = []
        for (start, end) in intervals.sorted(by: { $0.0 < $1.0 }) where end > start {
            if let last = result.last, start <= last.1 {
                result[result.count - 1].1 = max(last.1, end)
            } else {
                result.append((start, end))
            }
        }
        return result
    }

    /// The time in both of two unions (sorted, disjoint interval lists).
    static func intersection(_ a: [(UInt64, UInt64)], _ b: [(UInt64, UInt64)]) -> [(UInt64, UInt64)] {
        var result: [(UInt64, UInt64)] = []
        var i = 0, j = 0
        while i < a.count && j < b.count {
            let start = max(a[i].0, b[j].0), end = min(a[i].1, b[j].1)
            if end > start { result.append((start, end)) }
            if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
        }
        return result
    }

    static func seconds(_ intervals: [(UInt64, UInt64)]) -> Double {
        intervals.reduce(0) { $0 + Double($1.1 - $1.0) / 1e9 }
    }
}
