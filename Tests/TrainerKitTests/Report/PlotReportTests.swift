import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import TrainerKit

/// `trainer plot`'s report: the page and the SVG parse as XML, and every point drawn maps back,
/// through the axis transform that the chart's own grid lines give, to the metrics written in
/// metrics.jsonl (values the tests compute themselves, including the moving average).
final class PlotReportTests: XCTestCase {
    // MARK: - Points match the metrics

    func testPageParsesAsXMLAndHasEveryChart() throws {
        let folder = try makeTemporaryDirectory("plot-report")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try writeRun(SyntheticRun(steps: 40, evalInterval: 10, seed: 1), named: "base", in: folder)
        let page = PlotReport.html(try PlotReport.loadRuns([run]), smoothing: 0.9, title: "A & B <report>")
        let document = try ParsedDocument(page)
        XCTAssertEqual(document.charts.map(\.id), ["loss", "loss-tokens", "evaluation", "lr", "throughput", "grad-norm"])
        XCTAssertTrue(page.contains("<title>A &amp; B &lt;report&gt;</title>"))
        for forbidden in ["<script", "href=", "src=", "url(", "@import"] {
            XCTAssertFalse(page.contains(forbidden), "the page must be self-contained: found \(forbidden)")
        }
        // Each chart also parses on its own (as the .svg output and an <img> would read it).
        for chart in PlotReport.charts(try PlotReport.loadRuns([run]), smoothing: 0.9) {
            XCTAssertEqual(try ParsedDocument(chart.svg()).charts.count, 1, chart.id)
        }
    }

    func testPointsOfTwoOverlaidRunsMapBackToTheirMetrics() throws {
        let folder = try makeTemporaryDirectory("plot-report")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let runs = [SyntheticRun(steps: 60, evalInterval: 20, seed: 1),
                    SyntheticRun(steps: 45, evalInterval: 15, seed: 2, lossScale: 1.3, tokensPerStep: 1536, peakLR: 3e-3)]
        let paths = try zip(runs, ["base", "big-lr"]).map { try writeRun($0, named: $1, in: folder) }
        let smoothing = 0.8
        let document = try ParsedDocument(PlotReport.html(try PlotReport.loadRuns(paths), smoothing: smoothing))

        var checkedSeries = 0
        for (run, name) in zip(runs, ["base", "big-lr"]) {
            let steps = (0 ..< run.steps).map(Double.init)
            let tokensBefore = steps.map { $0 * Double(run.tokensPerStep) }
            let evalSteps = run.evaluationSteps.map(Double.init)
            let expected: [(chart: String, series: String, x: [Double], y: [Double])] = [
                ("loss", "loss", steps, run.loss),
                ("loss", "loss-smoothed", steps, ema(run.loss, smoothing)),
                ("loss", "val_loss", evalSteps, run.evaluationSteps.map(run.validationLoss)),
                ("loss-tokens", "loss-smoothed", tokensBefore, ema(run.loss, smoothing)),
                ("loss-tokens", "val_loss", run.evaluationSteps.map { Double($0 * run.tokensPerStep) },
                 run.evaluationSteps.map(run.validationLoss)),
                ("evaluation", "val_loss", evalSteps, run.evaluationSteps.map(run.validationLoss)),
                ("evaluation", "train_loss", evalSteps, run.evaluationSteps.map(run.trainLoss)),
                ("lr", "lr", steps, run.lr),
                ("throughput", "tokens_per_s", steps, run.tokensPerSecond),
                ("throughput", "tokens_per_s-smoothed", steps, ema(run.tokensPerSecond, smoothing)),
                ("grad-norm", "grad_norm", steps, run.gradientNorm),
                ("grad-norm", "grad_norm-smoothed", steps, ema(run.gradientNorm, smoothing)),
            ]
            for item in expected {
                let chart = try XCTUnwrap(document.charts.first { $0.id == item.chart }, item.chart)
                let data = zip(item.x, item.y).map { (x: $0, y: $1) }
                let context = "\(item.chart)/\(name)/\(item.series)"
                if let line = chart.polylines.first(where: { $0.run == name && $0.series == item.series }) {
                    try assertLine(line.points, draws: data, in: chart, context, wholePixels: line.faint)
                    XCTAssertEqual(line.faint, ["loss", "tokens_per_s", "grad_norm"].contains(item.series),
                                   "\(context): only every step's line is faint")
                    checkedSeries += 1
                }
                let markers = chart.circles.filter { $0.run == name && $0.series == item.series }
                if !markers.isEmpty {
                    try assertMarkers(markers.map(\.point), are: data, in: chart, context)
                    checkedSeries += 1
                }
            }
        }
        // Every expected series was found: 8 lines of step series and 4 evaluation series drawn as
        // a line through markers, per run.
        XCTAssertEqual(checkedSeries, 2 * (8 + 2 * 4), "a series is missing from the page")
    }

    func testRunsKeepTheirColourInEveryChart() throws {
        let folder = try makeTemporaryDirectory("plot-report")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let paths = [try writeRun(SyntheticRun(steps: 12, evalInterval: 4, seed: 1), named: "one", in: folder),
                     try writeRun(SyntheticRun(steps: 12, evalInterval: 4, seed: 2), named: "two", in: folder)]
        let document = try ParsedDocument(PlotReport.html(try PlotReport.loadRuns(paths), smoothing: 0.5))
        for (index, name) in ["one", "two"].enumerated() {
            let strokes = Set(document.charts.flatMap { $0.polylines.filter { $0.run == name }.map(\.stroke) })
            XCTAssertEqual(strokes, [PlotReport.colour(ofRun: index)], "run \(name) in every chart")
            for chart in document.charts {
                XCTAssertTrue(chart.texts.contains(name), "\(chart.id): legend lacks \(name)")
                XCTAssertTrue(chart.polylines.contains { $0.run == name }, "\(chart.id): no line of \(name)")
            }
        }
        XCTAssertNotEqual(PlotReport.colour(ofRun: 0), PlotReport.colour(ofRun: 1))
    }

    func testGradientNormSpanningDecadesGetsALogScale() throws {
        let folder = try makeTemporaryDirectory("plot-report")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var run = SyntheticRun(steps: 30, evalInterval: 10, seed: 3)
        run.gradientNorm = (0 ..< 30).map { 40 * pow(0.8, Double($0)) }  // 40 → 0.06
        let path = try writeRun(run, named: "decay", in: folder)
        let document = try ParsedDocument(PlotReport.html(try PlotReport.loadRuns([path]), smoothing: 0))
        let chart = try XCTUnwrap(document.charts.first { $0.id == "grad-norm" })
        XCTAssertEqual(chart.yScale, "log")
        XCTAssertEqual(document.charts.first { $0.id == "loss" }?.yScale, "linear")
        let line = try XCTUnwrap(chart.polylines.first { $0.series == "grad_norm" })
        try assertLine(line.points, draws: zip(0 ..< 30, run.gradientNorm).map { (Double($0), $1) }, in: chart, "grad norm")
        // Ticks are powers of ten (and 2×, 5× within too few decades), labelled compactly.
        XCTAssertTrue(chart.yGrid.map(\.value).contains(1))
        XCTAssertTrue(chart.yGrid.map(\.value).contains(10))
    }

    func testLongRunsAreThinnedButKeepTheirSpikes() throws {
        let folder = try makeTemporaryDirectory("plot-report")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var run = SyntheticRun(steps: 20_000, evalInterval: 5000, seed: 4)
        run.loss[12_345] = 9.5  // a spike
        let path = try writeRun(run, named: "long", in: folder)
        let page = PlotReport.html(try PlotReport.loadRuns([path]), smoothing: 0.99)
        XCTAssertLessThan(page.utf8.count, 600_000, "a long run must not make a huge page")
        let chart = try XCTUnwrap(try ParsedDocument(page).charts.first { $0.id == "loss" })
        let line = try XCTUnwrap(chart.polylines.first { $0.series == "loss" })
        XCTAssertLessThan(line.points.count, 4 * 600)
        let transform = try chart.transform()
        var previous = -1.0
        for point in line.points {
            let (x, y) = transform.values(of: point)
            XCTAssertGreaterThanOrEqual(x, previous, "in step order")
            previous = x
            // Each vertex is a data point: some step within the x rounding has this loss.
            let tolerance = transform.xTolerance(at: point, pixels: 0.6)
            let candidates = max(0, Int((x - tolerance).rounded(.up))) ... min(19_999, Int((x + tolerance).rounded(.down)))
            XCTAssertTrue(candidates.contains { abs(run.loss[$0] - y) <= transform.yTolerance(at: point, pixels: 0.6) },
                          "vertex (\(x), \(y)) is no data point")
        }
        let values = line.points.map { transform.values(of: $0) }
        XCTAssertTrue(values.contains { abs($0.x - 12_345) < 20 && abs($0.y - 9.5) < 0.02 }, "the spike is drawn")
        XCTAssertEqual(values.first?.x ?? -1, 0, accuracy: 10)
        XCTAssertEqual(values.last?.x ?? -1, 19_999, accuracy: 10)
    }

    func testTranslationMetricsGetChartsOfTheirOwn() throws {
        let folder = try makeTemporaryDirectory("plot-report")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var run = SyntheticRun(steps: 20, evalInterval: 5, seed: 5)
        run.extraEvaluation = ["bleu": { Double($0) * 1.5 }, "chrf": { 10 + Double($0) }, "cer": { _ in 0.5 }, "speed": { _ in 2 }]
        let path = try writeRun(run, named: "translator", in: folder)
        let gpt = try writeRun(SyntheticRun(steps: 20, evalInterval: 5, seed: 6), named: "gpt", in: folder)
        let document = try ParsedDocument(PlotReport.html(try PlotReport.loadRuns([path, gpt]), smoothing: 0.9))
        XCTAssertEqual(document.charts.map(\.id).suffix(4), ["eval-bleu", "eval-chrf", "eval-cer", "eval-speed"])
        let bleu = try XCTUnwrap(document.charts.first { $0.id == "eval-bleu" })
        XCTAssertTrue(bleu.texts.contains("BLEU"))
        XCTAssertFalse(bleu.texts.contains("gpt"), "the legend names only the runs drawn")
        XCTAssertTrue(document.charts.first { $0.id == "loss" }?.texts.contains("gpt") ?? false)
        XCTAssertTrue(document.charts.first { $0.id == "eval-cer" }?.texts.contains("Character error rate") ?? false)
        let points = bleu.circles.filter { $0.series == "bleu" }.map(\.point)
        try assertMarkers(points, are: run.evaluationSteps.map { (Double($0), Double($0) * 1.5) }, in: bleu, "bleu")
    }

    func testNonFiniteValuesAreLeftOutAndReported() throws {
        let folder = try makeTemporaryDirectory("plot-report")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var run = SyntheticRun(steps: 10, evalInterval: 5, seed: 6)
        run.loss[4] = .nan
        let path = try writeRun(run, named: "nan", in: folder)
        XCTAssertTrue(try String(contentsOfFile: path + "/metrics.jsonl", encoding: .utf8).contains("\"loss\": null"))
        let runs = try PlotReport.loadRuns([path])
        XCTAssertEqual(runs[0].stepSeries("loss").map(\.step), [0, 1, 2, 3, 5, 6, 7, 8, 9])
        let page = PlotReport.html(runs, smoothing: 0)
        XCTAssertTrue(page.contains("(1 non-finite losses)"))
        let chart = try XCTUnwrap(try ParsedDocument(page).charts.first { $0.id == "loss" })
        let line = try XCTUnwrap(chart.polylines.first { $0.series == "loss" })
        let data = (0 ..< 10).filter { $0 != 4 }.map { (Double($0), run.loss[$0]) }
        try assertLine(line.points, draws: data, in: chart, "loss without step 4")
    }

    func testARunJustStartedStillShows() throws {
        let folder = try makeTemporaryDirectory("plot-report")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // The first evaluation and the first step: one value per series.
        let path = try writeRun(SyntheticRun(steps: 1, evalInterval: 5, seed: 7), named: "new", in: folder)
        let document = try ParsedDocument(PlotReport.html(try PlotReport.loadRuns([path]), smoothing: 0.9))
        let chart = try XCTUnwrap(document.charts.first { $0.id == "lr" })
        XCTAssertEqual(chart.xGrid.first?.value, 0, "a step axis does not start below 0")
        XCTAssertTrue(chart.xGrid.allSatisfy { $0.value >= 0 })
        XCTAssertEqual(chart.dots, 1, "a line of one point is drawn as a dot")
        let line = try XCTUnwrap(chart.polylines.first { $0.series == "lr" })
        let (x, y) = try chart.transform().values(of: line.points[0])
        XCTAssertEqual(x, 0, accuracy: 0.01)
        XCTAssertEqual(y, 1e-4, accuracy: 1e-7)
    }

    func testStandaloneSVGHoldsTheChartsAndTheRuns() throws {
        let folder = try makeTemporaryDirectory("plot-report")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let paths = [try writeRun(SyntheticRun(steps: 20, evalInterval: 10, seed: 1), named: "a", in: folder),
                     try writeRun(SyntheticRun(steps: 20, evalInterval: 10, seed: 2, peakLR: 3e-3), named: "b", in: folder)]
        let output = folder + "/out/report.svg"
        let line = try PlotReport.write(runDirectories: paths, output: output)
        XCTAssertTrue(line.hasPrefix("wrote \(output): 2 runs (a, b), 6 charts"), line)
        let svg = try String(contentsOfFile: output, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        let document = try ParsedDocument(svg)
        XCTAssertEqual(document.charts.count, 6)
        // The config setting that differs is named in the run lines.
        XCTAssertTrue(document.texts.contains { $0.hasPrefix("b — 20 steps, best val ") && $0.contains("gpt, 4 layers × 128 channels")
                          && $0.contains("optimizer.lr=0.003") },
                      document.texts.joined(separator: "\n"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder + "/out"), ["report.svg"], "no temporary left")
    }

    // MARK: - Names, ticks, smoothing

    func testRunNamesAreFolderNamesMadeUnique() {
        XCTAssertEqual(RunMetrics.displayNames(for: ["runs/a/", "runs/b"]), ["a", "b"])
        XCTAssertEqual(RunMetrics.displayNames(for: ["x/lr/default", "y/lr/default", "z/default2"]),
                       ["x/lr/default", "y/lr/default", "default2"])
        XCTAssertEqual(RunMetrics.displayNames(for: ["old/default", "new/default"]), ["old/default", "new/default"])
        XCTAssertEqual(RunMetrics.displayNames(for: ["runs/a", "runs/a/"]), ["a", "a (2)"])
    }

    func testTicksAreNiceNumbers() {
        XCTAssertEqual(SVGChart.niceStep(0.58), 1)
        XCTAssertEqual(SVGChart.niceStep(23), 50)
        XCTAssertEqual(SVGChart.niceStep(0.00017), 0.0002, accuracy: 1e-15)
        let (domain, ticks) = SVGChart.domainAndTicks(low: 0, high: 300, scale: .linear, padding: 0, target: 5)
        XCTAssertEqual(domain.low, 0)
        XCTAssertEqual(domain.high, 300)
        XCTAssertEqual(ticks.labels, ["0", "100", "200", "300"])
        XCTAssertEqual(SVGChart.labels([0, 0.0002, 0.0004, 0.001], step: 0.0002), ["0", "2e-4", "4e-4", "1e-3"])
        XCTAssertEqual(SVGChart.labels([1.5, 2, 2.5], step: 0.5), ["1.5", "2.0", "2.5"])
        XCTAssertEqual(SVGChart.labels([0, 200_000, 400_000], step: 200_000), ["0", "200k", "400k"])
        XCTAssertEqual(SVGChart.labels([1_000_000, 1_500_000], step: 500_000), ["1.0M", "1.5M"])
        XCTAssertEqual(SVGChart.compact(0.05), "0.05")
        XCTAssertEqual(SVGChart.compact(230_400), "230.4k")
    }

    func testSmoothingIsTensorBoardsDebiasedMovingAverage() {
        XCTAssertEqual(PlotReport.smoothed([3, 5, 7], weight: 0), [3, 5, 7])
        let smoothed = PlotReport.smoothed([2, 4, 4], weight: 0.5)
        // (0.5·2)/0.5 = 2; (0.5·1 + 0.5·4)/0.75 = 10/3; (0.5·2.5 + 0.5·4)/0.875 = 26/7.
        XCTAssertEqual(smoothed[0], 2, accuracy: 1e-12)
        XCTAssertEqual(smoothed[1], 10.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(smoothed[2], 26.0 / 7, accuracy: 1e-12)
    }

    // MARK: - Bad input

    func testBadInputsAreOneLineErrorsNamingTheFile() throws {
        let folder = try makeTemporaryDirectory("plot-report")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let good = try writeRun(SyntheticRun(steps: 5, evalInterval: 5, seed: 1), named: "good", in: folder)
        try FileManager.default.createDirectory(atPath: folder + "/empty-folder", withIntermediateDirectories: true)
        func run(_ name: String, _ contents: String) throws -> String {
            try FileManager.default.createDirectory(atPath: folder + "/" + name, withIntermediateDirectories: true)
            _ = try writeText(contents, "metrics.jsonl", in: folder + "/" + name)
            return folder + "/" + name
        }
        let cases: [(path: String, fragments: [String])] = [
            (folder + "/missing", ["\(folder)/missing: no such run directory"]),
            (folder + "/empty-folder", ["\(folder)/empty-folder/metrics.jsonl: not found"]),
            (try run("malformed", "{\"step\": 0, \"loss\": 4.2}\n\n{\"step\": 1, \"loss\": 4.1\n"),
             ["\(folder)/malformed/metrics.jsonl line 3: not a JSON object: '{\"step\": 1, \"loss\": 4.1'"]),
            (try run("array", "[1, 2]\n"), ["array/metrics.jsonl line 1: not a JSON object"]),
            (try run("no-step", "{\"step\": 0, \"loss\": 4.2}\n{\"loss\": 4.1}\n"),
             ["no-step/metrics.jsonl line 2: no \"step\" that is a whole number"]),
            (try run("fractional-step", "{\"step\": 1.5, \"loss\": 4.1}\n"), ["fractional-step/metrics.jsonl line 1"]),
            (try run("empty", ""), ["\(folder)/empty/metrics.jsonl: no metrics records (the file is empty)"]),
            (try run("blank", "\n  \n"), ["blank/metrics.jsonl: no metrics records"]),
            (try run("foreign", "{\"step\": 3, \"accuracy\": 0.5}\n"), ["foreign/metrics.jsonl: 1 records, none with \"loss\""]),
        ]
        let output = folder + "/report.html"
        _ = try writeText("previous report", "report.html", in: folder)
        for item in cases {
            XCTAssertThrowsError(try PlotReport.write(runDirectories: [good, item.path], output: output), item.path) { error in
                let message = (error as? TrainerError)?.message ?? "not a TrainerError: \(error)"
                XCTAssertFalse(message.contains("\n"), "one line: \(message)")
                for fragment in item.fragments {
                    XCTAssertTrue(message.contains(fragment), "'\(fragment)' is missing from: \(message)")
                }
            }
        }
        XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8), "previous report", "a failed plot keeps the old report")
        XCTAssertThrowsError(try PlotReport.write(runDirectories: [good], output: output, smoothing: 1))
        XCTAssertThrowsError(try PlotReport.write(runDirectories: [good], output: folder + "/empty-folder")) { error in
            XCTAssertEqual((error as? TrainerError)?.message,
                           "--output \(folder)/empty-folder is a folder; name a file, e.g. \(folder)/empty-folder/report.html")
        }
        XCTAssertThrowsError(try PlotReport.write(runDirectories: [], output: output))
        // A good run replaces the report.
        try PlotReport.write(runDirectories: [good], output: output)
        XCTAssertTrue(try String(contentsOfFile: output, encoding: .utf8).hasPrefix("<!DOCTYPE html>"))
    }

    // MARK: - Checks

    /// The polyline's vertices are data points in order (x and y map back to one record), it
    /// starts and ends at the first and last, and every data point lies on the line drawn.
    /// `wholePixels`: the line's coordinates are rounded to whole pixels (a faint line), not 0.1 px.
    func assertLine(_ vertices: [SVGPoint], draws data: [(x: Double, y: Double)], in chart: ParsedChart, _ context: String,
                    wholePixels: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        let pixels = wholePixels ? 0.6 : 0.15
        let transform = try chart.transform()
        XCTAssertFalse(vertices.isEmpty, context, file: file, line: line)
        var previous = -1
        for vertex in vertices {
            let (x, y) = transform.values(of: vertex)
            let index = data.indices.min { abs(data[$0].x - x) < abs(data[$1].x - x) }!
            XCTAssertEqual(x, data[index].x, accuracy: transform.xTolerance(at: vertex, pixels: pixels), "\(context): vertex x", file: file, line: line)
            XCTAssertEqual(y, data[index].y, accuracy: transform.yTolerance(at: vertex, pixels: pixels), "\(context): vertex at x \(data[index].x)",
                           file: file, line: line)
            XCTAssertGreaterThan(index, previous, "\(context): vertices in order", file: file, line: line)
            previous = index
        }
        let first = transform.values(of: vertices.first!), last = transform.values(of: vertices.last!)
        XCTAssertEqual(first.x, data.first!.x, accuracy: transform.xTolerance(at: vertices.first!, pixels: pixels), context, file: file, line: line)
        XCTAssertEqual(last.x, data.last!.x, accuracy: transform.xTolerance(at: vertices.last!, pixels: pixels), context, file: file, line: line)
        // Every data point lies on the line drawn: within 0.5 px of it (0.2 px of simplification,
        // rounding of the points and of the grid lines the transform comes from; 0.9 px for whole pixels).
        let segments = vertices.count == 1 ? [(vertices[0], vertices[0])] : Array(zip(vertices, vertices.dropFirst()))
        for point in data {
            let pixel = transform.pixel(of: point)
            let distance = segments.map { a, b -> Double in
                let (dx, dy) = (b.x - a.x, b.y - a.y)
                let squared = dx * dx + dy * dy
                let t = squared == 0 ? 0 : min(max(((pixel.x - a.x) * dx + (pixel.y - a.y) * dy) / squared, 0), 1)
                let (ex, ey) = (a.x + t * dx - pixel.x, a.y + t * dy - pixel.y)
                return (ex * ex + ey * ey).squareRoot()
            }.min()!
            XCTAssertLessThanOrEqual(distance, wholePixels ? 0.9 : 0.5,
                                     "\(context): point (\(point.x), \(point.y)) is \(distance) px off the line", file: file, line: line)
        }
    }

    /// One marker per data point, in order, each mapping back to its values.
    func assertMarkers(_ markers: [SVGPoint], are data: [(x: Double, y: Double)], in chart: ParsedChart, _ context: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let transform = try chart.transform()
        XCTAssertEqual(markers.count, data.count, "\(context): one marker per point", file: file, line: line)
        for (marker, point) in zip(markers, data) {
            let (x, y) = transform.values(of: marker)
            XCTAssertEqual(x, point.x, accuracy: transform.xTolerance(at: marker), "\(context): marker x", file: file, line: line)
            XCTAssertEqual(y, point.y, accuracy: transform.yTolerance(at: marker), "\(context): marker at \(point.x)", file: file, line: line)
        }
    }
}

// MARK: - Synthetic runs

/// The EMA as TensorBoard defines it, written out again here.
private func ema(_ values: [Double], _ weight: Double) -> [Double] {
    var result: [Double] = [], last = 0.0
    for (index, value) in values.enumerated() {
        last = last * weight + (1 - weight) * value
        result.append(weight == 0 ? value : last / (1 - pow(weight, Double(index + 1))))
    }
    return result
}

/// A run's metrics made up: a noisy decaying loss, a warm-up then cosine lr, noisy throughput and
/// gradient norm, evaluations every `evalInterval` steps and at the end (as the trainer logs them).
struct SyntheticRun {
    var steps: Int
    var evalInterval: Int
    var tokensPerStep = 768
    var peakLR = 1e-3
    var loss: [Double] = []
    var lr: [Double] = []
    var tokensPerSecond: [Double] = []
    var gradientNorm: [Double] = []
    var lossScale: Double
    var extraEvaluation: [String: (Int) -> Double] = [:]

    init(steps: Int, evalInterval: Int, seed: UInt64, lossScale: Double = 1, tokensPerStep: Int = 768, peakLR: Double = 1e-3) {
        self.steps = steps
        self.evalInterval = evalInterval
        self.lossScale = lossScale
        self.tokensPerStep = tokensPerStep
        self.peakLR = peakLR
        var random = TestRandom(seed: seed)
        for step in 0 ..< steps {
            let progress = Double(step) / Double(max(steps, 1))
            loss.append(lossScale * (1.5 + 2.7 * exp(-4 * progress)) + 0.3 * Double(random.uniform()))
            lr.append(step < 10 ? peakLR * Double(step + 1) / 10 : peakLR * (0.55 + 0.45 * cos(Double.pi * progress)))
            tokensPerSecond.append(9000 + 1500 * Double(random.uniform()))
            gradientNorm.append(1.2 + 0.8 * Double(random.uniform()))
        }
    }

    var evaluationSteps: [Int] { Array(stride(from: 0, to: steps, by: evalInterval)) + [steps] }
    func trainLoss(_ step: Int) -> Double { lossScale * (1.5 + 2.7 * exp(-4 * Double(step) / Double(steps))) }
    func validationLoss(_ step: Int) -> Double { trainLoss(step) + 0.05 * Double(step) / Double(steps) }

    /// metrics.jsonl as `MetricsLog` writes it: step records with the same keys, evaluations
    /// before the step they are taken at; `ms` such that tokens/s × ms / 1000 = tokensPerStep.
    var metricsText: String {
        func number(_ value: Double) -> String { value.isFinite ? String(value) : "null" }
        var lines: [String] = []
        for step in 0 ... steps {
            if step % evalInterval == 0 || step == steps {
                var fields = ["\"step\": \(step)", "\"train_loss\": \(number(trainLoss(step)))",
                              "\"val_loss\": \(number(validationLoss(step)))"]
                for (key, value) in extraEvaluation.sorted(by: { $0.key < $1.key }) { fields.append("\"\(key)\": \(number(value(step)))") }
                lines.append("{" + fields.joined(separator: ", ") + "}")
            }
            guard step < steps else { break }
            let milliseconds = Double(tokensPerStep) / tokensPerSecond[step] * 1000
            lines.append("{\"step\": \(step), \"loss\": \(number(loss[step])), \"lr\": \(number(lr[step])), "
                + "\"grad_norm\": \(number(gradientNorm[step])), \"ms\": \(number(milliseconds)), "
                + "\"tokens_per_s\": \(number(tokensPerSecond[step])), \"mfu\": 0.3, \"wait_ms\": 0.0, \"allreduce_ms\": 0.0}")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Writes `folder/name/metrics.jsonl` and a config.yaml; returns the run folder.
func writeRun(_ run: SyntheticRun, named name: String, in folder: String) throws -> String {
    let path = folder + "/" + name
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    _ = try writeText(run.metricsText, "metrics.jsonl", in: path)
    let config = try ConfigLoader.load(path: nil, overrides: ["optimizer.lr=\(run.peakLR)", "schedule.max_steps=\(run.steps)",
                                                              "run_dir=\(path)"])
    _ = try writeText(try ConfigLoader.yaml(config), "config.yaml", in: path)
    return path
}

// MARK: - Reading the SVG back

struct SVGPoint {
    var x: Double
    var y: Double
}

/// One `<svg class="chart">` as parsed: grid lines (tick value → pixel), series, markers, texts.
struct ParsedChart {
    var id = ""
    var xScale = "", yScale = ""
    var xGrid: [(value: Double, pixel: Double)] = []
    var yGrid: [(value: Double, pixel: Double)] = []
    /// `faint`: drawn at reduced opacity, with coordinates in whole pixels.
    var polylines: [(run: String, series: String, stroke: String, faint: Bool, points: [SVGPoint])] = []
    var circles: [(run: String, series: String, point: SVGPoint)] = []
    var texts: [String] = []
    /// Circles outside point groups and legends: the dots of one-point lines.
    var dots = 0

    /// The value ↔ pixel transform that the outermost grid lines give.
    func transform() throws -> AxisTransform {
        guard let x0 = xGrid.first, let x1 = xGrid.last, x1.pixel != x0.pixel,
              let y0 = yGrid.first, let y1 = yGrid.last, y1.pixel != y0.pixel else {
            throw TrainerError("chart \(id) has fewer than two grid lines on an axis")
        }
        return AxisTransform(x: (x0, x1, xScale == "log"), y: (y0, y1, yScale == "log"))
    }
}

/// Pixel ↔ value along both axes, linear in the value (or its log10).
struct AxisTransform {
    typealias Axis = (a: (value: Double, pixel: Double), b: (value: Double, pixel: Double), log: Bool)
    var x: Axis
    var y: Axis

    static func unit(_ value: Double, _ log: Bool) -> Double { log ? log10(value) : value }

    static func value(_ pixel: Double, _ axis: Axis) -> Double {
        let (ua, ub) = (unit(axis.a.value, axis.log), unit(axis.b.value, axis.log))
        let u = ua + (pixel - axis.a.pixel) / (axis.b.pixel - axis.a.pixel) * (ub - ua)
        return axis.log ? pow(10, u) : u
    }

    static func pixel(_ value: Double, _ axis: Axis) -> Double {
        let (ua, ub) = (unit(axis.a.value, axis.log), unit(axis.b.value, axis.log))
        return axis.a.pixel + (unit(value, axis.log) - ua) / (ub - ua) * (axis.b.pixel - axis.a.pixel)
    }

    func values(of point: SVGPoint) -> (x: Double, y: Double) { (Self.value(point.x, x), Self.value(point.y, y)) }
    func pixel(of point: (x: Double, y: Double)) -> SVGPoint { SVGPoint(x: Self.pixel(point.x, x), y: Self.pixel(point.y, y)) }

    /// What `pixels` are worth in value at a pixel: by default 0.15 px, the rounding of a point to
    /// 0.1 px and that of the grid lines the transform comes from; 0.6 px for whole pixels.
    static func tolerance(at pixel: Double, _ axis: Axis, _ pixels: Double) -> Double {
        max(abs(value(pixel + pixels, axis) - value(pixel, axis)), abs(value(pixel - pixels, axis) - value(pixel, axis))) * 1.01
    }
    func xTolerance(at point: SVGPoint, pixels: Double = 0.15) -> Double { Self.tolerance(at: point.x, x, pixels) }
    func yTolerance(at point: SVGPoint, pixels: Double = 0.15) -> Double { Self.tolerance(at: point.y, y, pixels) }
}

/// A page or SVG parsed with Foundation's XMLParser (it must be well-formed XML).
final class ParsedDocument: NSObject, XMLParserDelegate {
    private(set) var charts: [ParsedChart] = []
    /// The run and series of the `<g class="points">` being read.
    private var pointGroup: (run: String, series: String)?
    /// Every text node, trimmed.
    private(set) var texts: [String] = []
    private var chartDepth: [Int] = []
    private var depth = 0
    private var text = ""

    init(_ markup: String) throws {
        super.init()
        let parser = XMLParser(data: Data(markup.utf8))
        parser.delegate = self
        guard parser.parse() else {
            throw TrainerError("not well-formed XML at line \(parser.lineNumber), column \(parser.columnNumber): "
                + "\(parser.parserError.map { "\($0)" } ?? "?")")
        }
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        depth += 1
        flushText()
        if name == "svg", let id = attributes["data-chart"] {
            charts.append(ParsedChart(id: id))
            chartDepth.append(depth)
        }
        guard !chartDepth.isEmpty else { return }
        let number = { (key: String) in Double(attributes[key] ?? "") ?? .nan }
        switch (name, attributes["class"]) {
        case ("g", "plot"):
            charts[charts.count - 1].xScale = attributes["data-x-scale"] ?? ""
            charts[charts.count - 1].yScale = attributes["data-y-scale"] ?? ""
        case ("line", "grid-x"): charts[charts.count - 1].xGrid.append((number("data-value"), number("x1")))
        case ("line", "grid-y"): charts[charts.count - 1].yGrid.append((number("data-value"), number("y1")))
        case ("polyline", "series"):
            let points = (attributes["points"] ?? "").split(separator: " ").map { pair -> SVGPoint in
                let xy = pair.split(separator: ",").map { Double($0) ?? .nan }
                return SVGPoint(x: xy.first ?? .nan, y: xy.count > 1 ? xy[1] : .nan)
            }
            charts[charts.count - 1].polylines.append((attributes["data-run"] ?? "", attributes["data-series"] ?? "",
                                                       attributes["stroke"] ?? "", attributes["stroke-opacity"] != nil, points))
        case ("g", "points"): pointGroup = (attributes["data-run"] ?? "", attributes["data-series"] ?? "")
        case ("circle", _):
            if let group = pointGroup {
                charts[charts.count - 1].circles.append((group.run, group.series, SVGPoint(x: number("cx"), y: number("cy"))))
            } else if attributes["r"] == "2" {
                charts[charts.count - 1].dots += 1
            }
        default: break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        flushText()
        if name == "g" { pointGroup = nil }
        if chartDepth.last == depth { chartDepth.removeLast() }
        depth -= 1
    }

    private func flushText() {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        text = ""
        guard !trimmed.isEmpty else { return }
        texts.append(trimmed)
        if !chartDepth.isEmpty { charts[charts.count - 1].texts.append(trimmed) }
    }
}
