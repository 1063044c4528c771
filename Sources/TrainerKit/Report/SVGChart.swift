import Foundation

/// A line chart as one standalone `<svg>` element: a title, a legend (the runs' colours, then the
/// line styles used), nice-number ticks with light grid lines, and the series. Presentation
/// attributes only (no CSS, no scripts), so it looks the same inline in HTML, as an `<img>`, or on
/// GitHub. Tooltips are `<title>` elements: a marker's gives its run and values, a line's its run and
/// what it shows.
///
/// What tests and scripts can rely on:
/// - `<g class="plot" data-x-scale="linear|log" data-y-scale="linear|log">` holds the series;
/// - `<line class="grid-x" data-value="V" x1="X" .../>` is the vertical grid line of tick V, at
///   X = the transform of V (`grid-y`: horizontal, at `y1`); with two of them the axis transform
///   can be rebuilt (linear in the value, or in its log10 on a log scale);
/// - `<polyline class="series" data-run="R" data-series="S" points="x,y ...">` per drawn line, and
///   `<g class="points" data-run="R" data-series="S">` holding a `<circle cx="x" cy="y">` per marker.
/// Coordinates are rounded to 0.1 px, those of faint lines (every step, drawn at 30% opacity behind
/// the smoothed line) to whole pixels. Lines keep only the data points needed to draw them within
/// 0.2 px (Ramer–Douglas–Peucker); a line of more than 4 points per pixel column is first cut down to
/// the first, lowest, highest and last point of each column (M4), so spikes survive. Every vertex
/// drawn is a data point.
public struct SVGChart: Sendable {
    /// How values map to pixels along an axis.
    public enum Scale: String, Sendable {
        case linear
        /// log10; chosen only for positive values.
        case log
    }

    /// One axis: its label and scale.
    public struct Axis: Sendable {
        public var label: String
        public var scale: Scale

        public init(_ label: String, scale: Scale = .linear) {
            self.label = label
            self.scale = scale
        }
    }

    public struct Point: Sendable, Equatable {
        public var x: Double
        public var y: Double

        public init(x: Double, y: Double) {
            self.x = x
            self.y = y
        }
    }

    /// One line and/or set of markers of one run.
    public struct Series: Sendable {
        public enum Line: Sendable { case none, solid, dashed, faint }
        public enum Marker: Sendable { case none, filled, hollow }

        /// The run's legend name.
        public var run: String
        /// A stable identifier, e.g. "loss-smoothed" (`data-series`).
        public var name: String
        /// What the style means in the legend, e.g. "EMA 0.9", "validation"; "" for none (the
        /// chart's only style).
        public var label: String
        public var colour: String
        /// Finite values, in drawing order.
        public var points: [Point]
        public var line: Line
        public var marker: Marker

        public init(run: String, name: String, label: String, colour: String, points: [Point], line: Line,
                    marker: Marker = .none) {
            self.run = run
            self.name = name
            self.label = label
            self.colour = colour
            self.points = points
            self.line = line
            self.marker = marker
        }
    }

    /// A stable identifier (`data-chart`), e.g. "loss".
    public var id: String
    public var title: String
    public var x: Axis
    public var y: Axis
    /// Drawn in this order within each layer (faint lines, then lines, then markers).
    public var series: [Series]
    /// The runs in the legend, with their colours.
    public var runs: [(name: String, colour: String)]
    public var width = 560
    public var height = 340

    public init(id: String, title: String, x: Axis, y: Axis, series: [Series], runs: [(name: String, colour: String)]) {
        self.id = id
        self.title = title
        self.x = x
        self.y = y
        self.series = series
        self.runs = runs
    }

    // MARK: - Layout

    static let fontSize = 11
    static let fontFamily = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'DejaVu Sans', sans-serif"
    /// Vertex tolerance of line simplification, in pixels.
    static let simplification = 0.2

    /// The plot area and the value → pixel transform of both axes.
    struct Frame: Sendable {
        public var left: Double, top: Double, right: Double, bottom: Double
        /// Domains in axis units (log10 of the value on a log scale).
        public var xDomain: (low: Double, high: Double)
        public var yDomain: (low: Double, high: Double)
        public var xScale: Scale, yScale: Scale

        public func pixelX(_ value: Double) -> Double {
            left + (Self.unit(value, xScale) - xDomain.low) / (xDomain.high - xDomain.low) * (right - left)
        }

        public func pixelY(_ value: Double) -> Double {
            bottom - (Self.unit(value, yScale) - yDomain.low) / (yDomain.high - yDomain.low) * (bottom - top)
        }

        static func unit(_ value: Double, _ scale: Scale) -> Double { scale == .log ? log10(value) : value }
    }

    /// Ticks of an axis: values, labels.
    public struct Ticks: Sendable {
        public var values: [Double]
        public var labels: [String]
    }

    /// The domain (axis units) and ticks of values `low ... high` on `scale`, about `target` ticks.
    /// `padding` widens a linear domain by that share of its range on each side (never below 0
    /// for values that are all ≥ 0); a log domain gets a fixed 2% of its decades.
    public static func domainAndTicks(low: Double, high: Double, scale: Scale, padding: Double,
                               target: Int) -> ((low: Double, high: Double), Ticks) {
        if scale == .log {
            var (a, b) = (log10(low), log10(high))
            if a == b { (a, b) = (a - 0.5, b + 0.5) }
            let pad = (b - a) * 0.02
            (a, b) = (a - pad, b + pad)
            var values = Array(Int(ceil(a)) ... max(Int(ceil(a)), Int(floor(b)))).map { pow(10, Double($0)) }
                .filter { log10($0) >= a - 1e-9 && log10($0) <= b + 1e-9 }
            for multiples in [[2.0, 5.0], [2.0, 3.0, 5.0, 7.0]] where values.count < 3 {
                for decade in Int(floor(a)) ... Int(ceil(b)) {
                    for m in multiples {
                        let value = m * pow(10, Double(decade))
                        if log10(value) >= a, log10(value) <= b, !values.contains(value) { values.append(value) }
                    }
                }
                values.sort()
            }
            return ((a, b), Ticks(values: values, labels: values.map(compact)))
        }
        var (a, b) = (low, high)
        if a == b {
            // One value: a range around it (from 0 for values that cannot be negative, like steps).
            let spread = a == 0 ? 1 : abs(a) * 0.1
            (a, b) = (low >= 0 && a - spread < 0 ? 0 : a - spread, b + spread)
        } else {
            let pad = (b - a) * padding
            (a, b) = (low >= 0 && a - pad < 0 ? 0 : a - pad, b + pad)
        }
        let step = niceStep((b - a) / Double(max(target, 2)))
        let first = Int(ceil(a / step - 1e-9)), last = Int(floor(b / step + 1e-9))
        let values = first <= last ? (first ... last).map { Double($0) * step } : []
        return ((a, b), Ticks(values: values, labels: labels(values, step: step)))
    }

    /// 1, 2 or 5 × 10^k, the smallest not below `raw`.
    public static func niceStep(_ raw: Double) -> Double {
        let exponent = floor(log10(raw)), power = pow(10, exponent)
        let fraction = raw / power
        return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power
    }

    /// Tick labels with as many digits as the step needs: 12k and 1.5M for large values, 0.05 for
    /// small steps, 2e-4 below a thousandth.
    public static func labels(_ values: [Double], step: Double) -> [String] {
        let largest = values.map(abs).max() ?? 0
        if largest >= 10_000 {
            let (unit, suffix): (Double, String) = largest >= 1e12 ? (1e12, "T") : largest >= 1e9 ? (1e9, "G")
                : largest >= 1e6 ? (1e6, "M") : (1e3, "k")
            let decimals = max(0, -Int(floor(log10(step / unit) + 1e-9)))
            return values.map { $0 == 0 ? "0" : String(format: "%.\(decimals)f", $0 / unit) + suffix }
        }
        if step >= 1 { return values.map { String(Int($0.rounded())) } }
        if step >= 1e-3 {
            let decimals = -Int(floor(log10(step) + 1e-9))
            return values.map { String(format: "%.\(decimals)f", $0) }
        }
        let stepExponent = Int(floor(log10(step) + 1e-9))
        return values.map { value in
            guard value != 0 else { return "0" }
            let exponent = Int(floor(log10(abs(value)) + 1e-9))
            return scientific(value, decimals: max(0, exponent - stepExponent))
        }
    }

    /// `m.mme-x`, trailing zeros of the mantissa dropped: 2e-4, 1.5e-3.
    static func scientific(_ value: Double, decimals: Int) -> String {
        let exponent = Int(floor(log10(abs(value)) + 1e-9))
        var mantissa = String(format: "%.\(decimals)f", value / pow(10, Double(exponent)))
        if mantissa.contains(".") {
            while mantissa.hasSuffix("0") { mantissa.removeLast() }
            if mantissa.hasSuffix(".") { mantissa.removeLast() }
        }
        return mantissa + "e" + String(exponent)
    }

    /// A value in at most 4 significant digits: 0.25, 1500, 12.5k, 3e-5.
    public static func compact(_ value: Double) -> String {
        let magnitude = abs(value)
        if value == 0 { return "0" }
        if magnitude >= 10_000 {
            let (unit, suffix): (Double, String) = magnitude >= 1e12 ? (1e12, "T") : magnitude >= 1e9 ? (1e9, "G")
                : magnitude >= 1e6 ? (1e6, "M") : (1e3, "k")
            return trimmed(String(format: "%.4g", value / unit)) + suffix
        }
        if magnitude < 1e-3 { return scientific(value, decimals: 3) }
        return trimmed(String(format: "%.4g", value))
    }

    static func trimmed(_ text: String) -> String {
        guard text.contains("."), !text.contains("e") else { return text }
        var result = text
        while result.hasSuffix("0") { result.removeLast() }
        if result.hasSuffix(".") { result.removeLast() }
        return result
    }

    /// One legend entry: a run's colour or a line style (in grey).
    struct LegendItem {
        var text: String
        var colour: String
        var line: Series.Line
        var marker: Series.Marker
        var width: Double { 22 + AttentionMaps.estimatedWidth(text, fontSize: SVGChart.fontSize) }
    }

    var legendItems: [LegendItem] {
        var items = runs.map { LegendItem(text: $0.name, colour: $0.colour, line: .solid, marker: .none) }
        var seen: [String] = []
        for item in series where !item.label.isEmpty && !seen.contains(item.label) {
            seen.append(item.label)
            items.append(LegendItem(text: item.label, colour: "#666", line: item.line, marker: item.marker))
        }
        return items
    }

    /// Legend items placed in rows that fit the chart: (item, x, row).
    func legendLayout() -> [(item: LegendItem, x: Double, row: Int)] {
        var placed: [(LegendItem, Double, Int)] = []
        var x = 12.0, row = 0
        for item in legendItems {
            if x > 12 && x + item.width > Double(width) - 8 { (x, row) = (12, row + 1) }
            placed.append((item, x, row))
            x += item.width + 14
        }
        return placed
    }

    /// The plot area, domains and ticks for the current series.
    func layout() -> (frame: Frame, xTicks: Ticks, yTicks: Ticks) {
        let points = series.flatMap(\.points)
        let xs = points.map(\.x), ys = points.map(\.y)
        let (xDomain, xTicks) = Self.domainAndTicks(low: xs.min() ?? 0, high: xs.max() ?? 1, scale: x.scale, padding: 0,
                                                    target: max(3, (width - 100) / 90))
        let legendRows = (legendLayout().map(\.row).max() ?? 0) + 1
        let top = 30.0 + Double(legendRows) * 16 + 8, bottom = Double(height) - 40
        let (yDomain, yTicks) = Self.domainAndTicks(low: ys.min() ?? 0, high: ys.max() ?? 1, scale: y.scale, padding: 0.05,
                                                    target: max(3, Int((bottom - top) / 45)))
        let widestLabel = yTicks.labels.map { AttentionMaps.estimatedWidth($0, fontSize: Self.fontSize) }.max() ?? 0
        let left = (max(40, widestLabel + 30)).rounded()
        let frame = Frame(left: left, top: top, right: Double(width) - 16, bottom: bottom, xDomain: xDomain, yDomain: yDomain,
                          xScale: x.scale, yScale: y.scale)
        return (frame, xTicks, yTicks)
    }

    // MARK: - Drawing

    /// The chart as an `<svg>` element; `x`, `y` place it inside another SVG (nested charts).
    public func svg(x offsetX: Double? = nil, y offsetY: Double? = nil) -> String {
        let (frame, xTicks, yTicks) = layout()
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-chart=\"\(esc(id))\" "
        if let offsetX, let offsetY { out += "x=\"\(Self.number(offsetX))\" y=\"\(Self.number(offsetY))\" " }
        out += "width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" "
        out += "font-family=\"\(Self.fontFamily)\" font-size=\"\(Self.fontSize)\" role=\"img\" aria-label=\"\(esc(title))\">\n"
        out += "<title>\(esc(title))</title>\n"
        out += "<rect width=\"\(width)\" height=\"\(height)\" fill=\"#fff\"/>\n"
        out += "<text x=\"12\" y=\"20\" font-size=\"13\" font-weight=\"600\" fill=\"#222\">\(esc(title))</text>\n"
        legend(into: &out)
        axes(frame, xTicks, yTicks, into: &out)
        out += "<g class=\"plot\" data-x-scale=\"\(x.scale.rawValue)\" data-y-scale=\"\(y.scale.rawValue)\" fill=\"none\" "
        out += "stroke-linejoin=\"round\">\n"
        for pass in [Series.Line.faint, .dashed, .solid] {
            for item in series where item.line == pass { line(item, frame, into: &out) }
        }
        for item in series where item.marker != .none { markers(item, frame, into: &out) }
        out += "</g>\n</svg>\n"
        return out
    }

    func legend(into out: inout String) {
        out += "<g class=\"legend\" fill=\"#333\">\n"
        for (item, x, row) in legendLayout() {
            let y = 30 + Double(row) * 16 + 8
            out += "<g>"
            out += Self.glyph(x: x, y: y, colour: item.colour, line: item.line, marker: item.marker)
            out += "<text x=\"\(Self.number(x + 22))\" y=\"\(Self.number(y))\" dy=\"0.35em\">\(esc(item.text))</text></g>\n"
        }
        out += "</g>\n"
    }

    /// An 18 px sample of a line style and marker.
    static func glyph(x: Double, y: Double, colour: String, line: Series.Line, marker: Series.Marker) -> String {
        var out = ""
        if line != .none {
            out += "<line x1=\"\(number(x))\" y1=\"\(number(y))\" x2=\"\(number(x + 18))\" y2=\"\(number(y))\" "
            // A faint line's sample is drawn light grey but opaque, or it would hardly show.
            out += (line == .faint ? "stroke=\"#bbb\" stroke-width=\"1.2\"" : lineAttributes(line, colour: colour)) + "/>"
        }
        if marker != .none {
            out += "<circle cx=\"\(number(x + 9))\" cy=\"\(number(y))\" r=\"3.2\" \(markerAttributes(marker, colour: colour))/>"
        }
        return out
    }

    static func lineAttributes(_ line: Series.Line, colour: String) -> String {
        switch line {
        case .faint: return "stroke=\"\(colour)\" stroke-width=\"1\" stroke-opacity=\"0.3\""
        case .dashed: return "stroke=\"\(colour)\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\""
        case .solid, .none: return "stroke=\"\(colour)\" stroke-width=\"1.8\""
        }
    }

    static func markerAttributes(_ marker: Series.Marker, colour: String) -> String {
        marker == .filled ? "fill=\"\(colour)\" stroke=\"#fff\" stroke-width=\"0.8\""
            : "fill=\"#fff\" stroke=\"\(colour)\" stroke-width=\"1.5\""
    }

    /// Grid lines (one group), tick labels (another), the axis lines and the axis labels.
    func axes(_ frame: Frame, _ xTicks: Ticks, _ yTicks: Ticks, into out: inout String) {
        let n = Self.number
        var grid = "<g class=\"grid\" stroke=\"#e6e6e6\">\n", labels = "<g class=\"ticks\" fill=\"#555\">\n"
        for (value, label) in zip(xTicks.values, xTicks.labels) {
            let px = n(frame.pixelX(value))
            grid += "<line class=\"grid-x\" data-value=\"\(value)\" x1=\"\(px)\" y1=\"\(n(frame.top))\" x2=\"\(px)\" "
            grid += "y2=\"\(n(frame.bottom + 4))\"/>\n"
            labels += "<text x=\"\(px)\" y=\"\(n(frame.bottom + 16))\" text-anchor=\"middle\">\(esc(label))</text>\n"
        }
        for (value, label) in zip(yTicks.values, yTicks.labels) {
            let py = n(frame.pixelY(value))
            grid += "<line class=\"grid-y\" data-value=\"\(value)\" x1=\"\(n(frame.left - 4))\" y1=\"\(py)\" "
            grid += "x2=\"\(n(frame.right))\" y2=\"\(py)\"/>\n"
            labels += "<text x=\"\(n(frame.left - 7))\" y=\"\(py)\" dy=\"0.35em\" text-anchor=\"end\">\(esc(label))</text>\n"
        }
        out += grid + "</g>\n" + labels + "</g>\n"
        out += "<path d=\"M\(n(frame.left)) \(n(frame.top))V\(n(frame.bottom))H\(n(frame.right))\" fill=\"none\" stroke=\"#999\"/>\n"
        let xLabel = x.label + (x.scale == .log ? " (log scale)" : "")
        let yLabel = y.label + (y.scale == .log ? " (log scale)" : "")
        out += "<text x=\"\(n((frame.left + frame.right) / 2))\" y=\"\(n(frame.bottom + 32))\" text-anchor=\"middle\" "
        out += "fill=\"#333\">\(esc(xLabel))</text>\n"
        out += "<text transform=\"translate(13 \(n((frame.top + frame.bottom) / 2))) rotate(-90)\" text-anchor=\"middle\" "
        out += "fill=\"#333\">\(esc(yLabel))</text>\n"
    }

    func line(_ series: Series, _ frame: Frame, into out: inout String) {
        guard !series.points.isEmpty else { return }
        let pixels = series.points.map { (frame.pixelX($0.x), frame.pixelY($0.y)) }
        let kept = Self.simplified(Self.decimated(pixels, columns: frame.right - frame.left), pixels,
                                   tolerance: Self.simplification)
        out += "<polyline class=\"series\" data-run=\"\(esc(series.run))\" data-series=\"\(esc(series.name))\" "
        out += Self.lineAttributes(series.line, colour: series.colour) + " points=\""
        // Every step's line is faint context behind its smoothed line: whole pixels are enough.
        let format = series.line == .faint ? { String(Int($0.rounded())) } : Self.number
        out += kept.map { format(pixels[$0].0) + "," + format(pixels[$0].1) }.joined(separator: " ")
        out += "\"><title>\(esc(series.run)): \(esc(series.label))</title></polyline>\n"
        if kept.count == 1 {  // a line of one point would not show: a dot
            out += "<circle cx=\"\(Self.number(pixels[0].0))\" cy=\"\(Self.number(pixels[0].1))\" r=\"2\" fill=\"\(series.colour)\"/>\n"
        }
    }

    /// A `<g class="points">` with the series' run, name and marker style, holding one `<circle>`
    /// per point with a tooltip.
    func markers(_ series: Series, _ frame: Frame, into out: inout String) {
        out += "<g class=\"points\" data-run=\"\(esc(series.run))\" data-series=\"\(esc(series.name))\" "
        out += Self.markerAttributes(series.marker, colour: series.colour) + ">\n"
        for point in series.points {
            out += "<circle cx=\"\(Self.number(frame.pixelX(point.x)))\" cy=\"\(Self.number(frame.pixelY(point.y)))\" r=\"3.2\">"
            out += "<title>\(esc(series.run)), \(esc(x.label)) \(Self.compact(point.x)): \(esc(series.label)) "
            out += "\(Self.tooltipNumber(point.y))</title></circle>\n"
        }
        out += "</g>\n"
    }

    /// Indices of the points to keep when there are more than 4 per pixel column: each column's
    /// first, lowest, highest and last point (M4), in order.
    static func decimated(_ pixels: [(Double, Double)], columns: Double) -> [Int] {
        guard Double(pixels.count) > 4 * columns else { return Array(pixels.indices) }
        var kept: [Int] = [], start = 0
        while start < pixels.count {
            let column = pixels[start].0.rounded(.down)
            var end = start, lowest = start, highest = start
            while end < pixels.count && pixels[end].0.rounded(.down) == column {
                if pixels[end].1 < pixels[lowest].1 { lowest = end }
                if pixels[end].1 > pixels[highest].1 { highest = end }
                end += 1
            }
            kept += Set([start, lowest, highest, end - 1]).sorted()
            start = end
        }
        return kept
    }

    /// Ramer–Douglas–Peucker over the points at `indices`: the indices of the vertices that keep
    /// every dropped point within `tolerance` pixels of the line drawn. First and last are kept.
    static func simplified(_ indices: [Int], _ pixels: [(Double, Double)], tolerance: Double) -> [Int] {
        guard indices.count > 2 else { return indices }
        var keep = [Bool](repeating: false, count: indices.count)
        keep[0] = true
        keep[indices.count - 1] = true
        var stack = [(0, indices.count - 1)]
        while let (first, last) = stack.popLast() {
            guard last > first + 1 else { continue }
            let (ax, ay) = pixels[indices[first]], (bx, by) = pixels[indices[last]]
            let (dx, dy) = (bx - ax, by - ay)
            let length = (dx * dx + dy * dy).squareRoot()
            var farthest = first, distance = -1.0
            for k in (first + 1) ..< last {
                let (px, py) = pixels[indices[k]]
                let d = length == 0 ? ((px - ax) * (px - ax) + (py - ay) * (py - ay)).squareRoot()
                    : abs(dy * (px - ax) - dx * (py - ay)) / length
                if d > distance { (farthest, distance) = (k, d) }
            }
            if distance > tolerance {
                keep[farthest] = true
                stack.append((first, farthest))
                stack.append((farthest, last))
            }
        }
        return indices.indices.filter { keep[$0] }.map { indices[$0] }
    }

    /// A coordinate with at most one decimal.
    static func number(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        if tenths.truncatingRemainder(dividingBy: 10) == 0 { return String(Int(tenths / 10)) }
        return String(format: "%.1f", tenths / 10)
    }

    /// A value in a tooltip: 5 significant digits.
    static func tooltipNumber(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude != 0 && (magnitude < 1e-3 || magnitude >= 1e6) { return scientific(value, decimals: 4) }
        return trimmed(String(format: "%.5g", value))
    }

    func esc(_ text: String) -> String { AttentionMaps.escaped(text) }
}
