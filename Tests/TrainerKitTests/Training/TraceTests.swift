import Foundation
import XCTest
import TrainerKit

/// The per-rank timeline (`trace: true`): the Chrome trace-event writer and merger, the clock
/// alignment, the overlap measure, and a traced run in one process.
final class TraceTests: XCTestCase {
    typealias Event = Timeline.Event

    override func tearDown() { _ = Timeline.stop() }

    /// The parsed `traceEvents` of a trace document; fails the test when the text is not JSON of
    /// the expected shape.
    func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        XCTAssertEqual(object?["displayTimeUnit"] as? String, "ms", file: file, line: line)
        return try XCTUnwrap(object?["traceEvents"] as? [[String: Any]], file: file, line: line)
    }

    /// One step of one rank, as the trainer records it: two micro-batches, the second one's
    /// backward starting bucket 0 (which completes after it) and bucket 1; times in ms from `base`.
    func step(_ step: Int, microBatches: [Int], base: UInt64) -> [Event] {
        func ms(_ value: Double) -> UInt64 { base + UInt64(value * 1e6) }
        let (first, second) = (microBatches[0], microBatches[1])
        return [
            Event(span: .forward, start: ms(1), end: ms(3), step: step, index: first),
            Event(span: .backward, start: ms(3), end: ms(7), step: step, index: first),
            Event(span: .microBatch, start: ms(1), end: ms(7.5), step: step, index: first),
            Event(span: .forward, start: ms(8), end: ms(10), step: step, index: second),
            Event(span: .bucket, start: ms(12), end: ms(13), step: step, index: 1, bytes: 4096),
            Event(span: .backward, start: ms(10), end: ms(14), step: step, index: second),
            Event(span: .microBatch, start: ms(8), end: ms(14.5), step: step, index: second),
            Event(span: .waitForSlowestRank, start: ms(14.5), end: ms(15), step: step),
            Event(span: .bucket, start: ms(11), end: ms(16), step: step, index: 0, bytes: 8192, completionSeenAtWait: true),
            Event(span: .allreduceWait, start: ms(15), end: ms(16), step: step),
            Event(span: .optimizer, start: ms(16), end: ms(18), step: step),
            Event(span: .step, start: ms(0), end: ms(19), step: step),
        ]
    }

    func testMergedTraceIsChromeJSONWithOneAlignedTrackPerRank() throws {
        // Rank 1's clock reads 5 s less than rank 0's when the window opens, and drifts by +2 µs
        // over the window; rank 0's window opens at 1000 s.
        let origin: UInt64 = 1_000_000_000_000
        let zero = ClockOffset(offset: 0, error: 0, measuredAt: origin)
        let rank0Clock = TraceFile.Clock(origin: origin, opening: zero,
                                         closing: ClockOffset(offset: 0, error: 0, measuredAt: origin + 40_000_000))
        let rank1Opening = ClockOffset(offset: 5_000_000_000, error: 1500, measuredAt: origin - 5_000_000_000)
        let rank1Clock = TraceFile.Clock(origin: origin, opening: rank1Opening,
                                         closing: ClockOffset(offset: 5_000_002_000, error: 2500,
                                                              measuredAt: origin - 5_000_000_000 + 40_000_000))
        XCTAssertEqual(rank1Clock.error, 2500)
        // Alignment: the same instant on both clocks maps to the same trace time.
        XCTAssertEqual(rank0Clock.microseconds(origin + 20_000_000), 20_000, accuracy: 1e-6)
        XCTAssertEqual(rank1Clock.microseconds(origin - 5_000_000_000 + 20_000_000), 20_001, accuracy: 1e-6)  // half the drift
        XCTAssertEqual(rank1Clock.microseconds(origin - 5_000_000_000), 0, accuracy: 1e-6)

        let rank0 = step(10, microBatches: [0, 1], base: origin) + step(11, microBatches: [0, 1], base: origin + 20_000_000)
        let rank1 = step(10, microBatches: [2, 3], base: origin - 5_000_000_000)
            + step(11, microBatches: [2, 3], base: origin - 5_000_000_000 + 20_000_000)
        let text = TraceFile.document(parts: [TraceFile.rankEvents(rank0, rank: 0, clock: rank0Clock),
                                              TraceFile.rankEvents(rank1, rank: 1, clock: rank1Clock)],
                                      otherData: [("steps", "10–11"), ("note", "a \"quoted\" word\n")])
        let events = try parse(text)

        // Metadata: one named process per rank, named lanes.
        let names = events.filter { $0["name"] as? String == "process_name" }
            .map { "\($0["pid"]!): \(($0["args"] as? [String: Any])?["name"] ?? "")" }
        XCTAssertEqual(names, ["0: rank 0", "1: rank 1"])
        let lanes = Set(events.filter { $0["name"] as? String == "thread_name" }
            .map { "\($0["pid"]!)/\($0["tid"]!): \(($0["args"] as? [String: Any])?["name"] ?? "")" })
        XCTAssertTrue(lanes.contains("1/0: compute (main thread)"), "\(lanes)")
        XCTAssertTrue(lanes.contains("1/1: all-reduce bucket 0 (0.01 MB)"), "\(lanes)")
        XCTAssertTrue(lanes.contains("0/2: all-reduce bucket 1 (0.00 MB)"), "\(lanes)")

        let spans = events.filter { $0["ph"] as? String == "X" }
        XCTAssertEqual(spans.count, rank0.count + rank1.count)
        for rank in 0 ... 1 {
            let mine = spans.filter { $0["pid"] as? Int == rank }
            let starts = mine.map { $0["ts"] as! Double }
            XCTAssertEqual(starts, starts.sorted(), "rank \(rank): ts not monotone")
            XCTAssertTrue(mine.allSatisfy { ($0["dur"] as! Double) >= 0 })
            // Both ranks' step 10 starts at trace time 0 (their clocks' offset undone).
            let step10 = try XCTUnwrap(mine.first { $0["name"] as? String == "step 10" })
            XCTAssertEqual(step10["ts"] as! Double, 0, accuracy: 1e-3)
            // Rank 1's clock runs slow by 2 µs in 40 ms: its 19 ms step lasts 0.95 µs more on rank 0's.
            XCTAssertEqual(step10["dur"] as! Double, rank == 0 ? 19_000 : 19_000.95, accuracy: 1e-3)
            // Each micro-batch: forward before backward, both inside the micro-batch span.
            for microBatch in rank == 0 ? [0, 1] : [2, 3] {
                func span(_ name: String, step: Int) throws -> (Double, Double) {
                    let event = try XCTUnwrap(mine.first {
                        $0["name"] as? String == name && ($0["args"] as? [String: Any])?["step"] as? Int == step
                    }, "\(name) of step \(step) on rank \(rank)")
                    let ts = event["ts"] as! Double
                    return (ts, ts + (event["dur"] as! Double))
                }
                let whole = try span("micro-batch \(microBatch)", step: 11)
                let forward = try span("forward \(microBatch)", step: 11), backward = try span("backward \(microBatch)", step: 11)
                XCTAssertLessThanOrEqual(forward.1, backward.0)
                XCTAssertLessThanOrEqual(whole.0, forward.0)
                XCTAssertLessThanOrEqual(backward.1, whole.1)
            }
            // Bucket all-reduces on their own lanes, inside their step, with their bytes.
            let buckets = mine.filter { ($0["name"] as? String)?.hasPrefix("all-reduce bucket") == true }
            XCTAssertEqual(buckets.count, 4)
            for bucket in buckets {
                let args = bucket["args"] as! [String: Any]
                XCTAssertEqual(bucket["tid"] as? Int, 1 + (args["bucket"] as! Int))
                XCTAssertEqual(args["bytes"] as? Int, args["bucket"] as! Int == 0 ? 8192 : 4096)
                let step = try XCTUnwrap(mine.first { $0["name"] as? String == "step \(args["step"] as! Int)" })
                let start = step["ts"] as! Double, end = start + (step["dur"] as! Double)
                XCTAssertGreaterThanOrEqual(bucket["ts"] as! Double, start)
                XCTAssertLessThanOrEqual((bucket["ts"] as! Double) + (bucket["dur"] as! Double), end)
            }
        }
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        XCTAssertEqual((object["otherData"] as? [String: String])?["note"], "a \"quoted\" word\n")
    }

    func testOverlapIsTheUnionOfBucketsWithinBackward() {
        // Per step: buckets in flight 11–16 ms (union of 11–16 and 12–13), backward 3–7 and 10–14,
        // so 3 ms of the 5 in flight are during a backward; the last backward is 4 ms.
        let events = step(10, microBatches: [0, 1], base: 1_000_000) + step(11, microBatches: [0, 1], base: 100_000_000)
        let overlap = TraceFile.Overlap(events)
        XCTAssertEqual(overlap.steps, 2)
        XCTAssertEqual(overlap.inFlight, 0.010, accuracy: 1e-12)
        XCTAssertEqual(overlap.inFlightDuringBackward, 0.006, accuracy: 1e-12)
        XCTAssertEqual(overlap.backward, 0.016, accuracy: 1e-12)
        XCTAssertEqual(overlap.lastBackward, 0.008, accuracy: 1e-12)
        XCTAssertEqual(overlap.exposedWait, 0.002, accuracy: 1e-12)
        XCTAssertEqual(TraceFile.Overlap(values: overlap.values), overlap)
        let line = TraceFile.summary(path: "run/trace.json", steps: "10–11", ranks: 2, alignment: 1500, overlap: overlap)
        XCTAssertEqual(line, "trace: run/trace.json, steps 10–11, 2 ranks (clocks aligned within 1.5 µs); bucket all-reduce in flight "
            + "5.00 ms/step, 60% of it during the backward (3.00 ms/step), covering 75% of the last micro-batch's backward "
            + "(4.00 ms/step) and 38% of all backward time; waiting on it after the micro-batches 1.00 ms/step")
        // A model whose backward passes are not marked (the translator): no share is claimed.
        let unmarked = TraceFile.Overlap(values: [2, 0.010, 0, 0, 0, 0.002])
        XCTAssertEqual(TraceFile.summary(path: "t.json", steps: "0–1", ranks: 4, alignment: 0, overlap: unmarked),
                       "trace: t.json, steps 0–1, 4 ranks (clocks aligned within 0.0 µs); bucket all-reduce in flight 5.00 ms/step, "
                           + "waiting on it after the micro-batches 1.00 ms/step (this model's backward passes are not marked)")
    }

    func testOffRecordsNothing() {
        XCTAssertFalse(Timeline.isRecording)
        Timeline.end(Timeline.begin(.forward, index: 0))
        Timeline.record(Event(span: .bucket, start: 1, end: 2, step: 0))
        Timeline.start(capacity: 4)
        XCTAssertEqual(Timeline.stop(), [])
        Timeline.start(capacity: 4)
        Timeline.step = 7
        Timeline.end(Timeline.begin(.backward, index: 3))
        let events = Timeline.stop()
        XCTAssertEqual(events.map(\.span), [.backward])
        XCTAssertEqual(events.first?.step, 7)
        XCTAssertEqual(events.first?.index, 3)
        Timeline.end(Timeline.begin(.forward))
        XCTAssertEqual(Timeline.stop(), [])
    }

    /// A traced run in one process: trace.json holds the window's steps (with the evaluation and
    /// the checkpoint write of its last step), nested as the trainer runs them, and the model is
    /// bit-identical to the same run without the trace.
    func testTracedRunWritesTheWindowAndTrainsTheSame() throws {
        let directory = try makeTemporaryDirectory("trace")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let corpus = BuiltinCorpus.shakespeareText
        try String(corpus.prefix(20_000)).write(toFile: directory + "/corpus.txt", atomically: true, encoding: .utf8)
        _ = try Prepare.prepareLanguageModel(inputs: [directory + "/corpus.txt"], output: directory + "/data.h5")
        func train(_ name: String, trace: Bool) throws -> [String] {
            let config = try ConfigLoader.load(path: nil, overrides: [
                "model.layers=1", "model.heads=2", "model.channels=16", "model.dropout=0.1",
                "data.dataset=\(directory)/data.h5", "data.batch_size=4", "data.micro_batch_size=2", "data.block_size=16",
                "schedule.max_steps=6", "eval.interval=4", "eval.batches=2", "checkpoint.interval=4",
                "run_dir=\(directory)/\(name)", "threads=1", "trace=\(trace)", "trace_skip_steps=2", "trace_steps=3",
            ])
            var lines: [String] = []
            let task = try GPTTask(config: config, dataset: TokenDataset(path: config.data.dataset))
            let trainer = try Trainer(config: config, task: task, communicator: .world, threads: 1, resume: false,
                                      log: { lines.append($0) })
            _ = try trainer.run()
            return lines
        }
        let lines = try train("traced", trace: true)
        _ = try train("plain", trace: false)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/plain/trace.json"))
        XCTAssertEqual(lines.filter { $0.hasPrefix("trace: ") },
                       ["trace: \(directory)/traced/trace.json, steps 2–4, 1 rank (clocks aligned within 0.0 µs); one rank: nothing to all-reduce"])
        // The trace is written when the window closes, before the run goes on.
        XCTAssertEqual(lines.firstIndex { $0.hasPrefix("trace: ") }.map { lines[$0 + 1].hasPrefix("step 5:") }, true, "\(lines)")

        let events = try parse(String(contentsOfFile: directory + "/traced/trace.json", encoding: .utf8))
            .filter { $0["ph"] as? String == "X" }
        func spans(_ name: String) -> [(step: Int, start: Double, end: Double)] {
            events.filter { $0["name"] as? String == name }.map {
                let ts = $0["ts"] as! Double
                return (($0["args"] as! [String: Any])["step"] as! Int, ts, ts + ($0["dur"] as! Double))
            }
        }
        XCTAssertEqual(spans("step 2").count + spans("step 3").count + spans("step 4").count, 3)
        XCTAssertTrue(spans("step 1").isEmpty && spans("step 5").isEmpty)
        XCTAssertEqual(spans("evaluation").map(\.step), [4])
        XCTAssertEqual(spans("checkpoint write").map(\.step), [4])
        XCTAssertEqual(spans("optimizer").map(\.step), [2, 3, 4])
        for step in 2 ... 4 {
            let whole = try XCTUnwrap(spans("step \(step)").first)
            for microBatch in 0 ... 1 {
                let forward = try XCTUnwrap(spans("forward \(microBatch)").first { $0.step == step })
                let backward = try XCTUnwrap(spans("backward \(microBatch)").first { $0.step == step })
                let outer = try XCTUnwrap(spans("micro-batch \(microBatch)").first { $0.step == step })
                XCTAssertTrue(outer.start <= forward.start && forward.end <= backward.start && backward.end <= outer.end)
                XCTAssertTrue(whole.start <= outer.start && outer.end <= whole.end)
            }
            let bucket = try XCTUnwrap(spans("all-reduce bucket 0").first { $0.step == step })
            XCTAssertTrue(whole.start <= bucket.start && bucket.end <= whole.end)
        }

        func model(_ name: String) throws -> [String: [UInt32]] {
            let group = try HDF5File(path: directory + "/\(name)/ckpt.h5", mode: .readOnly).group("model")
            var tensors: [String: [UInt32]] = [:]
            for path in try group.datasetPaths() { tensors[path] = try group.read(path, as: Float.self).map(\.bitPattern) }
            return tensors
        }
        let traced = try model("traced"), plain = try model("plain")
        XCTAssertGreaterThan(traced.count, 5)
        XCTAssertEqual(traced, plain, "/model differs with the trace on")
    }
}
