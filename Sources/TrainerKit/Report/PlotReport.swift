import Foundation

/// `trainer plot`: the metrics of one or more runs as charts, several runs overlaid with one colour
/// each (the same in every chart), in one self-contained file: an HTML page (a table of the runs,
/// then the charts as inline SVG; no scripts, no external files) or, for an output ending in
/// `.svg`, one SVG image with the charts in two columns (for a README).
///
/// The charts, each drawn when some run has its data:
/// - training loss against step: every step's loss (faint), its exponential moving average, and
///   the validation loss of each evaluation (dashed, with points);
/// - the same smoothed loss and validation loss against tokens processed (`tokens_per_s` × `ms`
///   summed over the steps before);
/// - evaluation loss: train and validation splits, as evaluated every `eval.interval` steps;
/// - learning rate; throughput in tokens/s (every step, faint, and smoothed); gradient norm before
///   clipping (log scale when it spans a factor of 10 or more);
/// - one chart per extra evaluation metric (translation: BLEU, chrF, CER, WER).
/// Smoothing is TensorBoard's: a debiased EMA, s = w·s + (1 − w)·x, divided by 1 − w^n.
public enum PlotReport {
    /// Matplotlib's "tab10" colours, one per run (then again from the start).
    public static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                 "#bcbd22", "#17becf"]

    /// The colour of the run at `index` in the order given.
    public static func colour(ofRun index: Int) -> String { palette[index % palette.count] }

    /// TensorBoard's smoothing: a debiased exponential moving average with weight `weight` in
    /// 0 ..< 1 (0: the values themselves).
    public static func smoothed(_ values: [Double], weight: Double) -> [Double] {
        var average = 0.0, power = 1.0
        return values.map { value in
            average = average * weight + (1 - weight) * value
            power *= weight
            return weight == 0 ? value : average / (1 - power)
        }
    }

    /// Reads every run (see `RunMetrics.load`), named as `RunMetrics.displayNames(for:)` says.
    public static func loadRuns(_ paths: [String]) throws -> [RunMetrics] {
        guard !paths.isEmpty else { throw TrainerError("plot: no run directories given; e.g. trainer plot runs/default") }
        let names = RunMetrics.displayNames(for: paths)
        return try zip(paths, names).map { try RunMetrics.load($0, name: $1) }
    }

    // MARK: - Charts

    /// Chart titles and axis labels of the extra evaluation metrics people know, in the order
    /// their charts appear (others follow in order of first appearance, named by their key).
    static let knownMetrics: [(key: String, title: String, axis: String)] = [
        ("bleu", "BLEU", "BLEU"), ("chrf", "chrF", "chrF"), ("cer", "Character error rate", "CER"),
        ("wer", "Word error rate", "WER"),
    ]

    /// The charts for these runs, in the order of the page; charts without data are left out.
    public static func charts(_ runs: [RunMetrics], smoothing: Double) -> [SVGChart] {
        let legend = runs.enumerated().map { (name: $1.name, colour: colour(ofRun: $0)) }
        let smoothedLabel = "EMA " + SVGChart.compact(smoothing)
        let rawLine: SVGChart.Series.Line = smoothing > 0 ? .faint : .solid
        typealias Series = SVGChart.Series
        typealias Point = SVGChart.Point

        func stepPoints(_ run: RunMetrics, _ key: String) -> [Point] {
            run.stepSeries(key).map { Point(x: Double($0.step), y: $0.value) }
        }
        func smoothedPoints(_ points: [Point]) -> [Point] {
            zip(points, smoothed(points.map(\.y), weight: smoothing)).map { Point(x: $0.x, y: $1) }
        }
        /// Every step (faint) and its EMA; only the steps when there is no smoothing.
        func noisy(_ run: Int, _ key: String, _ label: String) -> [Series] {
            let points = stepPoints(runs[run], key)
            guard !points.isEmpty else { return [] }
            var series = [Series(run: runs[run].name, name: key, label: smoothing > 0 ? "every step" : label,
                                 colour: colour(ofRun: run), points: points, line: rawLine)]
            if smoothing > 0 {
                series.append(Series(run: runs[run].name, name: key + "-smoothed", label: smoothedLabel, colour: colour(ofRun: run),
                                     points: smoothedPoints(points), line: .solid))
            }
            return series
        }
        func evaluation(_ run: Int, _ key: String, label: String, line: Series.Line, marker: Series.Marker,
                        x: (Int) -> Double? = { Double($0) }) -> [Series] {
            let points = runs[run].evaluationSeries(key).compactMap { item in x(item.step).map { Point(x: $0, y: item.value) } }
            guard !points.isEmpty else { return [] }
            return [Series(run: runs[run].name, name: key, label: label, colour: colour(ofRun: run), points: points,
                           line: line, marker: marker)]
        }
        let step = SVGChart.Axis("step")
        var charts: [SVGChart] = []
        func add(_ id: String, _ title: String, x: SVGChart.Axis = step, y: SVGChart.Axis, _ series: [Series]) {
            guard !series.isEmpty else { return }
            // The legend names the runs drawn in this chart, in the runs' order.
            let drawn = legend.filter { run in series.contains { $0.run == run.name } }
            charts.append(SVGChart(id: id, title: title, x: x, y: y, series: series, runs: drawn))
        }

        add("loss", "Training loss", y: SVGChart.Axis("loss"), runs.indices.flatMap { run in
            noisy(run, "loss", "loss") + evaluation(run, "val_loss", label: "validation", line: .dashed, marker: .filled)
        })
        add("loss-tokens", "Loss vs tokens", x: SVGChart.Axis("tokens"), y: SVGChart.Axis("loss"), runs.indices.flatMap { run in
            guard let counter = runs[run].tokenCounter else { return [Series]() }
            let points = runs[run].stepSeries("loss").map { Point(x: counter.tokensBefore(step: $0.step), y: $0.value) }
            var series: [Series] = []
            if !points.isEmpty {
                series.append(Series(run: runs[run].name, name: smoothing > 0 ? "loss-smoothed" : "loss",
                                     label: smoothing > 0 ? smoothedLabel : "every step", colour: colour(ofRun: run),
                                     points: smoothedPoints(points), line: .solid))
            }
            return series + evaluation(run, "val_loss", label: "validation", line: .dashed, marker: .filled,
                                       x: { counter.tokensBefore(step: $0) })
        })
        add("evaluation", "Evaluation loss", y: SVGChart.Axis("loss"), runs.indices.flatMap { run in
            evaluation(run, "val_loss", label: "validation", line: .solid, marker: .filled)
                + evaluation(run, "train_loss", label: "train", line: .dashed, marker: .hollow)
        })
        add("lr", "Learning rate", y: SVGChart.Axis("learning rate"), runs.indices.flatMap { run -> [Series] in
            let points = stepPoints(runs[run], "lr")
            return points.isEmpty ? [] : [Series(run: runs[run].name, name: "lr", label: "", colour: colour(ofRun: run),
                                                 points: points, line: .solid)]
        })
        add("throughput", "Throughput", y: SVGChart.Axis("tokens/s"),
            runs.indices.flatMap { noisy($0, "tokens_per_s", "tokens/s") })
        let norms = runs.flatMap { $0.stepSeries("grad_norm").map(\.value) }
        let logNorm = !norms.isEmpty && norms.min()! > 0 && norms.max()! / norms.min()! >= 10
        add("grad-norm", "Gradient norm (before clipping)", y: SVGChart.Axis("gradient norm", scale: logNorm ? .log : .linear),
            runs.indices.flatMap { noisy($0, "grad_norm", "gradient norm") })
        var extraKeys: [String] = []
        for run in runs { extraKeys += run.extraEvaluationKeys.filter { !extraKeys.contains($0) } }
        let known = knownMetrics.filter { extraKeys.contains($0.key) }
        let others = extraKeys.filter { key in !knownMetrics.contains { $0.key == key } }.map { (key: $0, title: $0, axis: $0) }
        for metric in known + others {
            add("eval-" + metric.key, metric.title, y: SVGChart.Axis(metric.axis),
                runs.indices.flatMap { evaluation($0, metric.key, label: "", line: .solid, marker: .filled) })
        }
        return charts
    }

    // MARK: - Run summaries

    /// One line of the runs table.
    struct Summary {
        var steps: Int
        var tokens: Double?
        var seconds: Double
        var lastEvaluation: RunMetrics.Record?
        var bestValidation: (step: Int, value: Double)?
        var medianThroughput: Double?
        var nonFiniteLosses: Int
        var model: String?

        init(_ run: RunMetrics) {
            steps = run.steps.last.map { $0.step + 1 } ?? 0
            tokens = run.tokenCounter?.total
            seconds = run.steps.compactMap { $0["ms"] }.reduce(0, +) / 1000
            lastEvaluation = run.evaluations.last
            bestValidation = run.evaluationSeries("val_loss").min { $0.value < $1.value }
            let rates = run.stepSeries("tokens_per_s").map(\.value).sorted()
            medianThroughput = rates.isEmpty ? nil : rates[rates.count / 2]
            nonFiniteLosses = run.steps.filter { $0.values["loss"].map { !$0.isFinite } ?? false }.count
            model = PlotReport.modelSummary(run.config)
        }
    }

    /// "gpt, 4 layers × 128 channels, 4 heads; block 64, batch 12" from a flattened config (the
    /// settings that differ between runs are listed by `configDifferences`).
    static func modelSummary(_ config: [String: String]) -> String? {
        guard let kind = config["model.kind"] else { return nil }
        var parts = [kind]
        if let layers = config["model.layers"], let channels = config["model.channels"] {
            parts[0] += ", \(layers) layers × \(channels) channels"
        }
        if let heads = config["model.heads"] { parts[0] += ", \(heads) heads" }
        let data = [("block", "data.block_size"), ("batch", "data.batch_size")]
            .compactMap { label, key in config[key].map { "\(label) \($0)" } }
        if !data.isEmpty { parts.append(data.joined(separator: ", ")) }
        return parts.joined(separator: "; ")
    }

    /// Per run, the config settings whose values differ between the runs that have a config
    /// (`run_dir` aside), as `key=value`, by key.
    static func configDifferences(_ runs: [RunMetrics]) -> [[String]] {
        let configured = runs.filter { !$0.config.isEmpty }
        guard configured.count > 1 else { return runs.map { _ in [] } }
        let keys = Set(configured.flatMap(\.config.keys)).subtracting(["run_dir"]).sorted()
        let differing = keys.filter { key in Set(configured.map { $0.config[key] ?? "∅" }).count > 1 }
        return runs.map { run in run.config.isEmpty ? [] : differing.map { "\($0)=\(run.config[$0] ?? "(unset)")" } }
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let total = Int(seconds.rounded())
        if total < 3600 { return "\(total / 60) min \(total % 60) s" }
        return "\(total / 3600) h \(total / 60 % 60) min"
    }

    static func loss(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "–" }

    // MARK: - HTML

    /// The report as one XHTML-compatible HTML page (it parses as XML): title, the runs table, the charts.
    public static func html(_ runs: [RunMetrics], smoothing: Double, title: String = "Training runs") -> String {
        let charts = charts(runs, smoothing: smoothing)
        let differences = configDifferences(runs)
        var page = """
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>\(esc(title))</title>
            <style>
            body { margin: 16px 24px 32px; background: #fafafa; color: #222;
                   font-family: \(SVGChart.fontFamily); font-size: 14px; }
            h1 { font-size: 20px; font-weight: 600; margin: 0 0 4px; }
            .note { color: #555; font-size: 13px; margin: 0 0 16px; }
            table { border-collapse: collapse; margin: 0 0 20px; background: #fff; font-size: 13px; }
            th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 10px; text-align: left; vertical-align: top; }
            th { font-weight: 600; color: #444; }
            td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
            .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
            .settings { color: #555; font-size: 12px; }
            .warning { color: #b00; }
            .charts { display: flex; flex-wrap: wrap; gap: 16px; }
            .charts svg { display: block; border: 1px solid #e3e3e3; border-radius: 4px; }
            </style>
            </head>
            <body>
            <h1>\(esc(title))</h1>

            """
        let smoothingNote = smoothing > 0
            ? "Smoothed lines: exponential moving average, weight \(SVGChart.compact(smoothing)) (debiased, as in TensorBoard). "
            : ""
        page += "<p class=\"note\">\(plural(runs.count, "run")). \(esc(smoothingNote))"
        page += "Hover a point or a line for its values. Tokens: all ranks' input tokens, from tokens/s × ms per step.</p>\n"
        page += "<table>\n<thead><tr><th>run</th><th>steps</th><th>tokens</th><th>time</th><th>last eval (train / val)</th>"
        page += "<th>best val</th><th>tokens/s (median)</th><th>config</th></tr></thead>\n<tbody>\n"
        for (index, run) in runs.enumerated() {
            let summary = Summary(run)
            page += "<tr><td><span class=\"swatch\" style=\"background: \(colour(ofRun: index))\"></span>"
            page += "<span title=\"\(esc(run.path))\">\(esc(run.name))</span>"
            if summary.nonFiniteLosses > 0 {
                page += " <span class=\"warning\">(\(summary.nonFiniteLosses) non-finite losses)</span>"
            }
            page += "</td><td class=\"number\">\(summary.steps)</td>"
            page += "<td class=\"number\">\(summary.tokens.map(SVGChart.compact) ?? "–")</td>"
            page += "<td class=\"number\">\(duration(summary.seconds))</td>"
            if let last = summary.lastEvaluation {
                page += "<td class=\"number\">\(loss(last["train_loss"])) / \(loss(last["val_loss"])) (step \(last.step))</td>"
            } else {
                page += "<td class=\"number\">–</td>"
            }
            page += "<td class=\"number\">" + (summary.bestValidation.map { "\(loss($0.value)) (step \($0.step))" } ?? "–") + "</td>"
            page += "<td class=\"number\">\(summary.medianThroughput.map { String(Int($0.rounded())) } ?? "–")</td><td>"
            page += esc(summary.model ?? "(no config.yaml)")
            if !differences[index].isEmpty {
                page += "<br/><span class=\"settings\">\(esc(differences[index].joined(separator: ", ")))</span>"
            }
            page += "</td></tr>\n"
        }
        page += "</tbody>\n</table>\n<div class=\"charts\">\n"
        for chart in charts { page += chart.svg() }
        page += "</div>\n</body>\n</html>\n"
        return page
    }

    // MARK: - One SVG

    /// The charts as one SVG image, two per row, under a title and one line per run (its colour,
    /// name, model and the settings that differ between the runs).
    public static func svg(_ runs: [RunMetrics], smoothing: Double, title: String = "Training runs") -> String {
        let charts = charts(runs, smoothing: smoothing)
        let differences = configDifferences(runs)
        let columns = 2, gap = 12, margin = 12
        let chartWidth = charts.first?.width ?? 560, chartHeight = charts.first?.height ?? 340
        let headerHeight = 34 + 18 * runs.count + 6
        let rows = (charts.count + columns - 1) / columns
        let width = 2 * margin + columns * chartWidth + (columns - 1) * gap
        let height = headerHeight + rows * chartHeight + max(0, rows - 1) * gap + margin
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" "
        out += "viewBox=\"0 0 \(width) \(height)\" font-family=\"\(SVGChart.fontFamily)\" font-size=\"12\">\n"
        out += "<title>\(esc(title))</title>\n<rect width=\"\(width)\" height=\"\(height)\" fill=\"#f6f6f6\"/>\n"
        out += "<text x=\"\(margin)\" y=\"24\" font-size=\"16\" font-weight=\"600\" fill=\"#222\">\(esc(title))</text>\n"
        for (index, run) in runs.enumerated() {
            let y = 34 + 18 * index + 9
            let summary = Summary(run)
            var text = run.name + " — \(plural(summary.steps, "step")), best val \(loss(summary.bestValidation?.value))"
            if let model = summary.model { text += " — " + model }
            if !differences[index].isEmpty { text += " — " + differences[index].joined(separator: ", ") }
            let shown = fitted(text, width: Double(width - 2 * margin - 18), fontSize: 12)
            out += "<rect x=\"\(margin)\" y=\"\(y - 6)\" width=\"12\" height=\"12\" rx=\"2\" fill=\"\(colour(ofRun: index))\"/>"
            out += "<text x=\"\(margin + 18)\" y=\"\(y)\" dy=\"0.35em\" fill=\"#333\">"
            out += (shown == text ? "" : "<title>\(esc(text))</title>") + "\(esc(shown))</text>\n"
        }
        for (index, chart) in charts.enumerated() {
            let x = margin + (index % columns) * (chartWidth + gap)
            let y = headerHeight + (index / columns) * (chartHeight + gap)
            out += chart.svg(x: Double(x), y: Double(y))
        }
        return out + "</svg>\n"
    }

    /// `text`, cut with an ellipsis where it would be wider than `width` pixels (estimated).
    static func fitted(_ text: String, width: Double, fontSize: Int) -> String {
        guard AttentionMaps.estimatedWidth(text, fontSize: fontSize) > width else { return text }
        var cut = "", used = AttentionMaps.estimatedWidth("…", fontSize: fontSize)
        for character in text {
            used += AttentionMaps.estimatedWidth(character) * Double(fontSize)
            if used > width { break }
            cut.append(character)
        }
        return cut + "…"
    }

    // MARK: - Writing

    /// Reads the runs and writes the report to `output` atomically (a temporary file renamed into
    /// place): HTML, or one SVG image when `output` ends in `.svg`. Returns what was written, for
    /// the command's one line.
    /// - Throws: `TrainerError` naming the run folder or file at fault, or the output.
    @discardableResult
    public static func write(runDirectories: [String], output: String, smoothing: Double = 0.9,
                             title: String = "Training runs") throws -> String {
        guard smoothing >= 0 && smoothing < 1 else {
            throw TrainerError("plot: smoothing \(smoothing) is outside 0 ..< 1 (0: off; 0.9: TensorBoard-like; 0.99: heavy)")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), isDirectory.boolValue {
            throw TrainerError("--output \(output) is a folder; name a file, e.g. \(RunMetrics.joined(output, "report.html"))")
        }
        let runs = try loadRuns(runDirectories)
        let asSVG = output.lowercased().hasSuffix(".svg")
        let text = asSVG ? svg(runs, smoothing: smoothing, title: title) : html(runs, smoothing: smoothing, title: title)
        do {
            try AtomicFile.write(to: output) { temporary in
                guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8)) else {
                    throw TrainerError("\(output): cannot write the report (\(String(cString: strerror(errno))))")
                }
            }
        } catch let error as TrainerError {
            throw error
        } catch {
            throw TrainerError("\(output): cannot write the report (\(error.localizedDescription))")
        }
        let chartCount = charts(runs, smoothing: smoothing).count
        return "wrote \(output): \(plural(runs.count, "run")) (\(runs.map(\.name).joined(separator: ", "))), "
            + "\(plural(chartCount, "chart")), \(text.utf8.count / 1024 + 1) KB"
    }

    static func esc(_ text: String) -> String { AttentionMaps.escaped(text) }

    /// "1 run", "2 runs".
    static func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
}
