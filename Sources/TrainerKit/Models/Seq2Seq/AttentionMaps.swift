import Foundation

/// Attention heatmaps as one self-contained HTML page (inline SVG and CSS; no scripts, no external
/// files or fonts), for `trainer attention`: one block per section (encoder self-attention, decoder
/// self-attention, cross-attention), each a grid with one row per layer and one column per head.
///
/// Every heatmap shows query tokens down the left and key tokens across the top (rotated), one cell
/// per (query, key) coloured from white (0) to dark blue (1). Layers and heads are numbered from 1.
/// The page scrolls horizontally when the grid is wider than the window (6 layers × 8 heads of
/// 25 tokens is about 4200 px wide), with each section's heading and legend staying in view; cells
/// stay 14–18 px so that labels stay legible. Dimensions are checked: `html` and `write` throw a
/// `TrainerError` naming the section, layer and head whose map does not fit its tokens.
public enum AttentionMaps {
    /// One group of maps: e.g. "Encoder self-attention".
    public struct Section: Sendable {
        /// The heading of the block, e.g. "Cross-attention".
        public var title: String
        /// Query tokens, one per map row.
        public var rowTokens: [String]
        /// Key tokens, one per map column.
        public var columnTokens: [String]
        /// maps[layer][head]: rowTokens.count × columnTokens.count probabilities, row-major.
        public var maps: [[[Float]]]

        /// Creates a section; dimensions are checked by `validate()` (called by `html` and `write`).
        public init(title: String, rowTokens: [String], columnTokens: [String], maps: [[[Float]]]) {
            self.title = title
            self.rowTokens = rowTokens
            self.columnTokens = columnTokens
            self.maps = maps
        }

        /// Throws a `TrainerError` unless there is at least one row token, one column token, one layer
        /// and one head, every layer has as many heads as the first, and every map holds exactly
        /// rowTokens.count × columnTokens.count values.
        public func validate() throws {
            let context = "attention maps, section '\(title)'"
            guard !rowTokens.isEmpty, !columnTokens.isEmpty else {
                throw TrainerError("\(context): \(rowTokens.count) row tokens and \(columnTokens.count) column tokens; "
                    + "both must be non-empty")
            }
            guard let heads = maps.first?.count, heads > 0 else {
                throw TrainerError("\(context): no maps; expected maps[layer][head] with at least one layer and one head")
            }
            let expected = rowTokens.count * columnTokens.count
            for (layer, layerMaps) in maps.enumerated() {
                guard layerMaps.count == heads else {
                    throw TrainerError("\(context): layer \(layer + 1) has \(layerMaps.count) heads, layer 1 has \(heads); "
                        + "every layer must have the same number of heads")
                }
                for (head, map) in layerMaps.enumerated() where map.count != expected {
                    throw TrainerError("\(context): layer \(layer + 1), head \(head + 1) holds \(map.count) values, expected "
                        + "\(rowTokens.count) row tokens × \(columnTokens.count) column tokens = \(expected) (row-major); "
                        + "check that the tokens are those the maps were computed for")
                }
            }
        }
    }

    /// A self-contained HTML page: a title line, then one block per section with its heading, a colour
    /// legend, and a grid of heatmaps (one row per layer, one column per head) captioned "layer L, head H".
    ///
    /// Tokens and titles are XML-escaped; whitespace in tokens is made visible (space → ␣, newline → ↵,
    /// tab → ⇥, other control characters → �) and tokens wider than about 8 em are cut with an ellipsis
    /// (the full token is the label's tooltip). Values are clamped to 0...1; a value that is not a number
    /// is drawn orange. The cell size is the same for the whole page: 18 px up to 10 tokens, 14 px from
    /// 40 tokens, in between linearly.
    /// - Throws: `TrainerError` from `Section.validate()` naming the section, layer and head at fault.
    /// - Complexity: O(total number of map values); about 12 bytes of HTML per cell that is not white.
    public static func html(title: String, subtitle: String, sections: [Section]) throws -> String {
        for section in sections { try section.validate() }
        let largest = sections.map { max($0.rowTokens.count, $0.columnTokens.count) }.max() ?? 0
        let layout = Layout(tokenCount: largest)
        var page = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escaped(title))</title>
            <style>
            \(styleSheet(layout))</style>
            </head>
            <body>
            <header class="page">
            <h1>\(escaped(title))</h1>
            <p class="subtitle">\(escaped(subtitle))</p>
            </header>

            """
        for section in sections { sectionHTML(section, layout: layout, into: &page) }
        page += "</body>\n</html>\n"
        return page
    }

    /// Writes `html(...)` to `path` (not atomically; the folder must exist).
    /// - Throws: `TrainerError` from validation, or one naming `path` and the system's reason.
    public static func write(to path: String, title: String, subtitle: String, sections: [Section]) throws {
        let page = try html(title: title, subtitle: subtitle, sections: sections)
        guard let file = fopen(path, "wb") else {
            throw TrainerError("\(path): cannot create the attention page (\(String(cString: strerror(errno)))); "
                + "check that the folder exists and is writable")
        }
        let bytes = Array(page.utf8)
        let written = fwrite(bytes, 1, bytes.count, file)
        let closed = fclose(file)
        guard written == bytes.count, closed == 0 else {
            throw TrainerError("\(path): wrote \(written) of \(bytes.count) bytes of the attention page "
                + "(\(String(cString: strerror(errno))))")
        }
    }

    /// The fill for a probability: white at 0 through ColorBrewer "Blues" to #08306b at 1, linear in
    /// RGB between the stops; values are clamped to 0...1 and rounded to one of 256 levels; a value that
    /// is not a number gets orange (#fd8d3c), which is outside the scale.
    public static func colour(for probability: Float) -> String {
        guard !probability.isNaN else { return notANumberColour }
        return colour(level: level(of: probability))
    }

    // MARK: - Colour scale

    /// The scale's stops, evenly spaced over 0...1: white, then "Blues" from its second class on.
    static let stops: [(red: Double, green: Double, blue: Double)] = [
        (255, 255, 255), (222, 235, 247), (198, 219, 239), (158, 202, 225), (107, 174, 214),
        (66, 146, 198), (33, 113, 181), (8, 81, 156), (8, 48, 107),
    ]
    static let notANumberColour = "#fd8d3c"

    /// 0...255, or -1 for NaN.
    static func level(of probability: Float) -> Int {
        guard !probability.isNaN else { return -1 }
        return Int((min(max(probability, 0), 1) * 255).rounded())
    }

    static func colour(level: Int) -> String {
        let position = Double(level) / 255 * Double(stops.count - 1)
        let lower = min(Int(position), stops.count - 2)
        let fraction = position - Double(lower)
        let (a, b) = (stops[lower], stops[lower + 1])
        func channel(_ x: Double, _ y: Double) -> String {
            let value = Int((x + (y - x) * fraction).rounded())
            let hex = String(value, radix: 16)
            return value < 16 ? "0" + hex : hex
        }
        return "#" + channel(a.red, b.red) + channel(a.green, b.green) + channel(a.blue, b.blue)
    }

    /// The CSS gradient of the legend: the same stops as `colour(level:)`.
    static var legendGradient: String {
        let colours = (0 ..< stops.count).map { colour(level: $0 * 255 / (stops.count - 1)) }
        return "linear-gradient(to right, " + colours.joined(separator: ", ") + ")"
    }

    // MARK: - Layout

    /// Sizes shared by every heatmap of the page, in CSS pixels.
    struct Layout {
        /// Side of one map cell.
        var cell: Int
        /// Font size of the token labels.
        var fontSize: Int
        /// Labels wider than this are cut with an ellipsis.
        var maxLabelWidth: Double

        init(tokenCount: Int) {
            let extra = Double(min(max(tokenCount, 10), 40) - 10)
            cell = 18 - Int((extra * 4 / 30).rounded())
            fontSize = cell >= 16 ? 12 : 11
            maxLabelWidth = Double(fontSize) * 8
        }

        /// Gap between the labels and the map.
        let labelGap = 4.0
    }

    /// The width of `text` in a sans-serif font of `fontSize`, estimated per character (we cannot
    /// measure without a browser); errs on the wide side so that labels do not run into the map.
    static func estimatedWidth(_ text: String, fontSize: Int) -> Double {
        text.reduce(0) { $0 + estimatedWidth($1) } * Double(fontSize)
    }

    /// In em.
    static func estimatedWidth(_ character: Character) -> Double {
        guard let scalar = character.unicodeScalars.first else { return 0 }
        switch scalar.value {
        case 0x1100 ... 0x115F, 0x2E80 ... 0xA4CF, 0xAC00 ... 0xD7A3, 0xF900 ... 0xFAFF, 0xFE30 ... 0xFE4F,
             0xFF00 ... 0xFF60, 0xFFE0 ... 0xFFE6, 0x1F300 ... 0x1FAFF, 0x20000 ... 0x3FFFD:
            return 1.05  // CJK, Hangul, full-width forms, emoji
        default: break
        }
        if "il.,:;'|!`ıjft[]()".contains(character) { return 0.36 }
        if "mwMW@%…".contains(character) { return 0.95 }
        if character.isUppercase || character.isNumber || "<>_#&?=+~^".contains(character) { return 0.72 }
        return 0.6
    }

    /// A token as shown: whitespace made visible, then cut to `maxWidth` with an ellipsis.
    /// Returns the label and whether it was cut.
    static func label(_ token: String, layout: Layout) -> (text: String, cut: Bool) {
        var visible = ""
        for character in token {
            switch character {
            case " ": visible.append("␣")
            case "\n", "\r\n": visible.append("↵")
            case "\t": visible.append("⇥")
            default:
                if character.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                    visible.append("\u{FFFD}")
                } else {
                    visible.append(character)
                }
            }
        }
        if visible.isEmpty { return ("∅", false) }
        guard estimatedWidth(visible, fontSize: layout.fontSize) > layout.maxLabelWidth else { return (visible, false) }
        let budget = layout.maxLabelWidth - estimatedWidth("…", fontSize: layout.fontSize)
        var cut = "", width = 0.0
        for character in visible {
            width += estimatedWidth(character) * Double(layout.fontSize)
            if width > budget { break }
            cut.append(character)
        }
        return (cut + "…", true)
    }

    /// Text safe in XML content and in attribute values of either quote.
    static func escaped(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    // MARK: - HTML

    static func styleSheet(_ layout: Layout) -> String {
        """
        body { margin: 16px 24px 32px; background: #fff; color: #222;
               font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; }
        h1 { font-size: 20px; font-weight: 600; margin: 0 0 4px; }
        .subtitle { font-size: 15px; color: #444; margin: 0 0 20px; white-space: pre-wrap; }
        section { margin: 0 0 32px; width: max-content; }
        section > header { display: flex; align-items: center; gap: 28px; margin: 0 0 8px;
                           position: sticky; left: 24px; width: max-content; }
        h2 { font-size: 16px; font-weight: 600; margin: 0; }
        .note { font-size: 12px; color: #555; }
        .legend { display: flex; align-items: center; gap: 6px; font-size: 11px; color: #444; }
        .legend .bar { width: 160px; height: 10px; border: 1px solid #bbb; background: \(legendGradient); }
        .legend .nan { display: inline-block; width: 10px; height: 10px; background: \(notANumberColour); margin-left: 10px; }
        .grid { display: grid; gap: 14px 18px; }
        figure { margin: 0; }
        figcaption { font-size: 12px; color: #444; text-align: center; margin-top: 2px; padding-left: var(--map-left, 0); }
        svg.map { display: block; }
        svg.map text { font-size: \(layout.fontSize)px; fill: #333; }

        """
    }

    static func sectionHTML(_ section: Section, layout: Layout, into page: inout String) {
        let heads = section.maps[0].count
        let hasNotANumber = section.maps.contains { $0.contains { $0.contains { $0.isNaN } } }
        page += "<section>\n<header>\n<h2>\(escaped(section.title))</h2>\n"
        let layers = section.maps.count
        page += "<span class=\"note\">rows: queries · columns: keys · "
        page += "\(layers) layer\(layers == 1 ? "" : "s") × \(heads) head\(heads == 1 ? "" : "s")</span>\n"
        page += "<span class=\"legend\">0 <span class=\"bar\"></span> 1"
        if hasNotANumber { page += "<span class=\"nan\"></span> not a number" }
        page += "</span>\n</header>\n"
        let frame = HeatmapFrame(section, layout: layout)
        page += "<div class=\"grid\" style=\"grid-template-columns: repeat(\(heads), max-content); "
        page += "--map-left: \(format(frame.left))px\">\n"
        for (layer, layerMaps) in section.maps.enumerated() {
            for (head, map) in layerMaps.enumerated() {
                let caption = "layer \(layer + 1), head \(head + 1)"
                page += "<figure>\n"
                heatmapSVG(map, frame: frame, label: "\(section.title), \(caption)", into: &page)
                page += "<figcaption>\(caption)</figcaption>\n</figure>\n"
            }
        }
        page += "</div>\n</section>\n"
    }

    /// The parts of a heatmap that are the same for every layer and head of a section: size and labels.
    struct HeatmapFrame {
        var rows: Int, columns: Int, cell: Int
        /// Top-left corner of the map.
        var left: Double, top: Double
        var width: Int, height: Int
        /// The `<text>` elements of both axes.
        var labels: String

        init(_ section: Section, layout: Layout) {
            rows = section.rowTokens.count
            columns = section.columnTokens.count
            cell = layout.cell
            let rowLabels = section.rowTokens.map { AttentionMaps.label($0, layout: layout) }
            let columnLabels = section.columnTokens.map { AttentionMaps.label($0, layout: layout) }
            func widest(_ labels: [(text: String, cut: Bool)]) -> Double {
                labels.map { estimatedWidth($0.text, fontSize: layout.fontSize) }.max() ?? 0
            }
            left = (widest(rowLabels) + layout.labelGap + 2).rounded(.up)
            top = (widest(columnLabels) + layout.labelGap + 2).rounded(.up)
            width = Int(left) + columns * cell + 2
            height = Int(top) + rows * cell + 2
            var text = "<g text-anchor=\"end\">"
            for (row, label) in rowLabels.enumerated() {
                let y = top + (Double(row) + 0.5) * Double(cell)
                text += "<text x=\"\(format(left - layout.labelGap))\" y=\"\(format(y))\" dy=\"0.35em\">"
                text += Self.labelContent(label, full: section.rowTokens[row]) + "</text>"
            }
            text += "</g>\n<g>"
            for (column, label) in columnLabels.enumerated() {
                let x = left + (Double(column) + 0.5) * Double(cell)
                text += "<text transform=\"translate(\(format(x)) \(format(top - layout.labelGap))) rotate(-90)\" dy=\"0.35em\">"
                text += Self.labelContent(label, full: section.columnTokens[column]) + "</text>"
            }
            labels = text + "</g>\n"
        }

        /// A cut label carries the full token as its tooltip.
        static func labelContent(_ label: (text: String, cut: Bool), full: String) -> String {
            label.cut ? "<title>\(escaped(full))</title>\(escaped(label.text))" : escaped(label.text)
        }
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    /// One `<svg>`: labels, then the cells, then a frame. The cells are drawn in unit coordinates scaled
    /// by the cell size, one `<path>` per colour level, each horizontal run of equal cells one
    /// `M x y h n v1 h-n z` rectangle; white cells are not drawn. (One `<rect>` per cell would make a
    /// 6 × 8-head, 40-token page about 4× larger and much slower to open.)
    static func heatmapSVG(_ map: [Float], frame: HeatmapFrame, label: String, into page: inout String) {
        page += "<svg class=\"map\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(frame.width)\" height=\"\(frame.height)\" "
        page += "viewBox=\"0 0 \(frame.width) \(frame.height)\" role=\"img\" aria-label=\"\(escaped(label))\">\n"
        page += "<title>\(escaped(label))</title>\n"
        page += frame.labels
        // paths[level + 1]: the rectangles of that colour level (level -1 is NaN).
        var paths = [String](repeating: "", count: 257)
        for row in 0 ..< frame.rows {
            var column = 0
            while column < frame.columns {
                let level = Self.level(of: map[row * frame.columns + column])
                var end = column + 1
                while end < frame.columns, Self.level(of: map[row * frame.columns + end]) == level { end += 1 }
                if level != 0 { paths[level + 1] += "M\(column) \(row)h\(end - column)v1h-\(end - column)z" }
                column = end
            }
        }
        page += "<g transform=\"translate(\(format(frame.left)) \(format(frame.top))) scale(\(frame.cell))\" "
        page += "shape-rendering=\"crispEdges\">\n"
        for (index, path) in paths.enumerated() where !path.isEmpty {
            let fill = index == 0 ? notANumberColour : colour(level: index - 1)
            page += "<path fill=\"\(fill)\" d=\"\(path)\"/>\n"
        }
        page += "</g>\n"
        page += "<rect x=\"\(format(frame.left - 0.5))\" y=\"\(format(frame.top - 0.5))\" "
        page += "width=\"\(frame.columns * frame.cell + 1)\" height=\"\(frame.rows * frame.cell + 1)\" "
        page += "fill=\"none\" stroke=\"#bbb\"/>\n</svg>\n"
    }
}
