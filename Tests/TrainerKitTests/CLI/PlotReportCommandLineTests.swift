import Foundation
import XCTest
import TrainerKit

/// `trainer plot` run as a real process on run folders made by `writeRun` (PlotReportTests): what
/// it prints and writes, and bad input rejected with one line on standard error, exit status 1.
final class PlotReportCommandLineTests: XCTestCase {
    func testPlotWritesOneReportOfTwoRuns() throws {
        let folder = try makeTemporaryDirectory("plot-cli")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try writeRun(SyntheticRun(steps: 30, evalInterval: 10, seed: 1), named: "a", in: folder)
        _ = try writeRun(SyntheticRun(steps: 30, evalInterval: 10, seed: 2, peakLR: 3e-3), named: "b", in: folder)

        let html = try runTrainer(["plot", "a", "b/", "--output", "out/report.html"], in: folder)
        XCTAssertEqual(html.status, 0, html.description)
        XCTAssertTrue(html.output.hasPrefix("wrote out/report.html: 2 runs (a, b), 6 charts, "), html.description)
        XCTAssertEqual(html.errorOutput, "")
        let page = try String(contentsOfFile: folder + "/out/report.html", encoding: .utf8)
        XCTAssertEqual(try ParsedDocument(page).charts.count, 6)

        let svg = try runTrainer(["plot", "a", "b", "--output", "plot.svg", "--smoothing", "0", "--title", "lr sweep"], in: folder)
        XCTAssertEqual(svg.status, 0, svg.description)
        let document = try ParsedDocument(try String(contentsOfFile: folder + "/plot.svg", encoding: .utf8))
        XCTAssertTrue(document.texts.contains("lr sweep"))
        XCTAssertFalse(document.charts.flatMap(\.polylines).contains { $0.series.hasSuffix("-smoothed") }, "--smoothing 0: no EMA")
    }

    func testBadInputIsOneLineAndKeepsTheOldReport() throws {
        let folder = try makeTemporaryDirectory("plot-cli")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try writeRun(SyntheticRun(steps: 5, evalInterval: 5, seed: 1), named: "good", in: folder)
        try FileManager.default.createDirectory(atPath: folder + "/bad", withIntermediateDirectories: true)
        _ = try writeText("{\"step\": 0, \"loss\": 4.2}\n{\"step\": 1, \"loss\": \n", "metrics.jsonl", in: folder + "/bad")
        _ = try writeText("", "metrics.jsonl", in: try makeFolder(folder + "/empty"))
        _ = try writeText("old", "report.html", in: folder)
        let cases: [([String], String)] = [
            (["plot", "good", "missing"], "error: missing: no such run directory"),
            (["plot", "good", "bad"], "error: bad/metrics.jsonl line 2: not a JSON object"),
            (["plot", "empty"], "error: empty/metrics.jsonl: no metrics records"),
            (["plot"], "error: give at least one run directory"),
            (["plot", "good", "--smoothing", "1"], "error: --smoothing 1.0 must be in 0 ..< 1"),
        ]
        for (arguments, expected) in cases {
            let run = try runTrainer(arguments, in: folder)
            XCTAssertEqual(run.status, 1, run.description)
            let lines = run.errorOutput.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, run.description)
            XCTAssertTrue(run.errorOutput.hasPrefix(expected), "expected '\(expected)…': \(run.description)")
        }
        XCTAssertEqual(try String(contentsOfFile: folder + "/report.html", encoding: .utf8), "old")
    }

    private func makeFolder(_ path: String) throws -> String {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// A finished `trainer` process.
private struct PlotRun: CustomStringConvertible {
    var arguments: [String]
    var status: Int32
    var output: String
    var errorOutput: String

    var description: String {
        "trainer \(arguments.joined(separator: " ")): exit status \(status)\n--- standard output:\n\(output)"
            + "--- standard error:\n\(errorOutput)---"
    }
}

/// Runs the `trainer` built next to this test bundle (or `TRAINER_EXECUTABLE`) in `directory`;
/// standard output and error go to files.
private func runTrainer(_ arguments: [String], in directory: String) throws -> PlotRun {
    let scratch = try makeTemporaryDirectory("plot-cli-run")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let process = Process()
    process.executableURL = try trainerExecutable()
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    var environment = ProcessInfo.processInfo.environment.filter { key, _ in
        !["OMPI_", "PMIX_", "OPAL_", "ORTE_", "PMI_"].contains { key.hasPrefix($0) }
    }
    environment["OPENBLAS_NUM_THREADS"] = "1"
    process.environment = environment
    let outputPath = scratch + "/stdout", errorPath = scratch + "/stderr"
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    let error = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = output
    process.standardError = error
    try process.run()
    process.waitUntilExit()
    try output.close()
    try error.close()
    return PlotRun(arguments: arguments, status: process.terminationReason == .exit ? process.terminationStatus : -1,
                   output: try String(contentsOfFile: outputPath, encoding: .utf8),
                   errorOutput: try String(contentsOfFile: errorPath, encoding: .utf8))
}

/// `trainer` beside the test bundle (Linux: .build/<configuration>/trainerPackageTests.xctest, a
/// file; macOS: a bundle folder in the same place).
private func trainerExecutable() throws -> URL {
    if let explicit = ProcessInfo.processInfo.environment["TRAINER_EXECUTABLE"] { return URL(fileURLWithPath: explicit) }
    let bundle = Bundle(for: PlotReportCommandLineTests.self).bundleURL
    for folder in [bundle, bundle.deletingLastPathComponent()] {
        let candidate = folder.appendingPathComponent("trainer")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            return candidate
        }
    }
    throw TrainerError("the trainer executable is not next to the test bundle (\(bundle.path)); "
        + "build it with `swift build -c release --build-tests` (or set TRAINER_EXECUTABLE)")
}
