import XCTest
import TrainerKit

/// `ProgressLine`: the text of the line, redraws at most four times a second, nothing for short
/// work, a cleared line at the end, and silence without a terminal.
final class ProgressLineTests: XCTestCase {
    func testTheLineGivesShareCountRateAndTimeLeft() {
        XCTAssertEqual(ProgressLine.describe(label: "eval", done: 450, total: 1000, unit: "batches", seconds: 9),
                       "eval  45%  450/1000 batches  50 batches/s  ETA 0:11")
        XCTAssertEqual(ProgressLine.describe(label: "translate", done: 30, total: nil, unit: "sentences", seconds: 4),
                       "translate  30 sentences  7.5 sentences/s")
        XCTAssertEqual(ProgressLine.describe(label: "prepare: tokens", done: 12.5, total: 7300, unit: "MB", seconds: 1),
                       "prepare: tokens   0%  12.5/7300 MB  12.5 MB/s  ETA 9:43")
        XCTAssertTrue(ProgressLine.describe(label: "x", done: 1, total: 10_000, unit: "merges", seconds: 1).hasSuffix("ETA 2:46:39"))
    }

    func testRedrawsInPlaceAtMostFourTimesASecondAndClearsAtTheEnd() {
        var written: [String] = [], now = 100.0
        let progress = ProgressLine(unit: "merges", write: { written.append($0) }, clock: { now })
        progress.begin("prepare: BPE merges", total: 100)
        for _ in 0 ..< 10 {  // 10 merges in 0.2 s: too short to draw
            now += 0.02
            progress.advance()
        }
        XCTAssertEqual(written, [], "work under a quarter of a second draws nothing")
        for _ in 0 ..< 90 {  // then 90 merges over 1.8 s: a redraw every 0.25 s at most
            now += 0.02
            progress.advance()
        }
        XCTAssertEqual(written.count, 7, "\(written)")
        XCTAssertTrue(written.allSatisfy { $0.hasPrefix("\r") && $0.hasSuffix("\u{1B}[K") }, "\(written)")
        XCTAssertTrue(written[0].contains("prepare: BPE merges  13%  13/100 merges"), written[0])
        progress.end()
        XCTAssertEqual(written.last, "\r\u{1B}[K", "the line is cleared for the command's summary")
    }

    func testSilentWithoutATerminal() {
        var now = 0.0
        let progress = ProgressLine(unit: "batches", write: nil, clock: { now })
        progress.begin("eval", total: 10)
        for _ in 0 ..< 10 {
            now += 1
            progress.advance()
        }
        progress.end()  // nothing to write to: no crash, nothing drawn
        // Standard error of the test runner is a file or a pipe here, so the default writer is nil.
        if isatty(2) == 0 { XCTAssertNil(ProgressLine.terminalWriter) }
    }
}
