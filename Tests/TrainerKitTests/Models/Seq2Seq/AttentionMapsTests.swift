import Foundation
import XCTest
import TrainerKit

final class AttentionMapsTests: XCTestCase {
    func testOneSVGPerMapAndTitle() throws {
        let sections = Self.sampleSections(layers: 2, heads: 3, source: ["a", "b", "c"], target: ["x", "y"])
        let page = try AttentionMaps.html(title: "Attention: a b c", subtitle: "→ x y", sections: sections)
        XCTAssertEqual(occurrences(of: "<svg", in: page), 3 * 2 * 3)
        XCTAssertTrue(page.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(page.contains("<meta charset=\"utf-8\">"))
        XCTAssertTrue(page.contains("<title>Attention: a b c</title>"))
        XCTAssertTrue(page.contains("<h1>Attention: a b c</h1>"))
        XCTAssertTrue(page.contains("→ x y"))
        XCTAssertTrue(page.contains("layer 2, head 3"))
        XCTAssertFalse(page.contains("<script"), "the page must be self-contained and script-free")
        XCTAssertFalse(page.contains("href="), "the page must not load anything")
        XCTAssertFalse(page.contains("src="), "the page must not load anything")
    }

    func testEscapesTokensAndTitles() throws {
        let tokens = ["<unk>", "a&b", "l'uomo", "\"q\""]
        let map = [Float](repeating: 0.25, count: 16)
        let section = AttentionMaps.Section(title: "<b>self</b>", rowTokens: tokens, columnTokens: tokens, maps: [[map]])
        let page = try AttentionMaps.html(title: "x < y & z", subtitle: "it's \"quoted\"", sections: [section])
        for escaped in ["&lt;unk&gt;", "a&amp;b", "l&#39;uomo", "&quot;q&quot;", "&lt;b&gt;self&lt;/b&gt;", "x &lt; y &amp; z",
                        "it&#39;s &quot;quoted&quot;"] {
            XCTAssertTrue(page.contains(escaped), "missing \(escaped)")
        }
        for raw in ["<unk>", "a&b", "l'uomo", "<b>", "x < y"] {
            XCTAssertFalse(page.contains(raw), "unescaped \(raw)")
        }
    }

    func testColourScale() {
        XCTAssertEqual(AttentionMaps.colour(for: 0), "#ffffff")
        XCTAssertEqual(AttentionMaps.colour(for: 1), "#08306b")
        XCTAssertEqual(AttentionMaps.colour(for: -3), "#ffffff", "clamped")
        XCTAssertEqual(AttentionMaps.colour(for: 7), "#08306b", "clamped")
        XCTAssertNotEqual(AttentionMaps.colour(for: .nan), AttentionMaps.colour(for: 0))
        // Darker (smaller sum of channels) as the probability grows.
        var previous = Int.max
        for step in 0 ... 20 {
            let hex = AttentionMaps.colour(for: Float(step) / 20).dropFirst()
            let channels = stride(from: 0, to: 6, by: 2).map { offset -> Int in
                let start = hex.index(hex.startIndex, offsetBy: offset)
                return Int(hex[start ..< hex.index(start, offsetBy: 2)], radix: 16)!
            }
            let brightness = channels.reduce(0, +)
            XCTAssertLessThan(brightness, previous, "step \(step)")
            previous = brightness
        }
    }

    func testCellsGetTheirColours() throws {
        // 2 × 3: row 0 all 0.5 (one run), row 1 one-hot on column 2.
        let map: [Float] = [0.5, 0.5, 0.5, 0, 0, 1]
        let section = AttentionMaps.Section(title: "s", rowTokens: ["r0", "r1"], columnTokens: ["c0", "c1", "c2"], maps: [[map]])
        let page = try AttentionMaps.html(title: "t", subtitle: "", sections: [section])
        XCTAssertEqual(occurrences(of: "<path", in: page), 2, "white cells are not drawn")
        XCTAssertTrue(page.contains("<path fill=\"#08306b\" d=\"M2 1h1v1h-1z\"/>"), "value 1 → darkest, at column 2 row 1")
        XCTAssertTrue(page.contains("<path fill=\"\(AttentionMaps.colour(for: 0.5))\" d=\"M0 0h3v1h-3z\"/>"))
    }

    func testRejectsDimensionMismatches() {
        let good = [Float](repeating: 0.5, count: 6)
        func check(_ section: AttentionMaps.Section, mentions expected: String, line: UInt = #line) {
            XCTAssertThrowsError(try AttentionMaps.html(title: "t", subtitle: "", sections: [section]), line: line) { error in
                let message = (error as? TrainerError)?.message ?? "\(error)"
                XCTAssertTrue(message.contains(expected), "\(message) should mention \(expected)", line: line)
            }
        }
        let rows = ["a", "b"], columns = ["x", "y", "z"]
        check(.init(title: "Cross", rowTokens: rows, columnTokens: columns, maps: [[good], [good, [0.5]]]),
              mentions: "layer 2 has 2 heads")
        check(.init(title: "Cross", rowTokens: rows, columnTokens: columns, maps: [[good, good], [good, [0.5, 0.5]]]),
              mentions: "layer 2, head 2 holds 2 values, expected 2 row tokens × 3 column tokens = 6")
        check(.init(title: "Cross", rowTokens: columns, columnTokens: rows + ["w"], maps: [[good]]),
              mentions: "layer 1, head 1 holds 6 values")
        check(.init(title: "Cross", rowTokens: [], columnTokens: columns, maps: [[[]]]), mentions: "non-empty")
        check(.init(title: "Cross", rowTokens: rows, columnTokens: columns, maps: []), mentions: "no maps")
        check(.init(title: "Cross", rowTokens: rows, columnTokens: columns, maps: [[]]), mentions: "no maps")
        XCTAssertNoThrow(try AttentionMaps.Section(title: "ok", rowTokens: rows, columnTokens: columns, maps: [[good]]).validate())
    }

    func testWriteFailureNamesThePath() {
        let path = "/nonexistent-folder-\(getpid())/attention.html"
        XCTAssertThrowsError(try AttentionMaps.write(to: path, title: "t", subtitle: "", sections: [])) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }

    /// Writes a sample page (3 sections × 2 layers × 3 heads) and checks it round-trips. Set
    /// ATTENTION_MAPS_SAMPLE=/tmp/attention.html to keep it for a look in a browser, and
    /// ATTENTION_MAPS_SAMPLE_LARGE=/tmp/attention-large.html for the seed model's 6 × 8 heads with
    /// 30-token sentences.
    func testWritesSamplePage() throws {
        let environment = ProcessInfo.processInfo.environment
        let path = environment["ATTENTION_MAPS_SAMPLE"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("attention-\(getpid()).html").path
        let source = ["[SOS]", "il", "gatto", "rosso", "<unk>", "sul", "tavolo", "dell'anticamera", ".", "[EOS]"]
        let target = ["[SOS]", "the", "red", "cat", "<unk>", "on", "the", "antechamber's", "table", "."]
        let sections = Self.sampleSections(layers: 2, heads: 3, source: source, target: target)
        let title = "il gatto rosso <unk> sul tavolo dell'anticamera ."
        let subtitle = "→ the red cat <unk> on the antechamber's table ."
        try AttentionMaps.write(to: path, title: title, subtitle: subtitle, sections: sections)
        let written = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(written, try AttentionMaps.html(title: title, subtitle: subtitle, sections: sections))
        if environment["ATTENTION_MAPS_SAMPLE"] == nil { try? FileManager.default.removeItem(atPath: path) }

        if let large = environment["ATTENTION_MAPS_SAMPLE_LARGE"] {
            let words = "the quick brown fox jumps over the lazy dog while a very-long-hyphenated-compound-word waits by " +
                "the river bank and nobody notices anything unusual today ."
            let tokens = ["[SOS]"] + words.split(separator: " ").map(String.init)
            try AttentionMaps.write(to: large, title: words, subtitle: "6 layers × 8 heads, \(tokens.count) tokens",
                                    sections: Self.sampleSections(layers: 6, heads: 8, source: tokens, target: tokens))
        }
    }

    // MARK: - Helpers

    func occurrences(of needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    /// Encoder self-attention (near-diagonal, a shift per head), decoder self-attention (causal), and
    /// cross-attention (a monotone alignment), each row a softmax of structured logits plus noise.
    static func sampleSections(layers: Int, heads: Int, source: [String], target: [String]) -> [AttentionMaps.Section] {
        var random = TestRandom(seed: 2017)
        func softmaxRows(rows: Int, columns: Int, logit: (Int, Int) -> Float?) -> [Float] {
            var map = [Float](repeating: 0, count: rows * columns)
            for i in 0 ..< rows {
                let logits = (0 ..< columns).map { logit(i, $0) }
                let top = logits.compactMap { $0 }.max() ?? 0
                let weights = logits.map { $0.map { Float(exp(Double($0 - top))) } ?? 0 }
                let total = weights.reduce(0, +)
                for j in 0 ..< columns { map[i * columns + j] = weights[j] / total }
            }
            return map
        }
        func maps(rows: Int, columns: Int, logit: (Int, Int, Int, Int) -> Float?) -> [[[Float]]] {
            (0 ..< layers).map { layer in
                (0 ..< heads).map { head in
                    softmaxRows(rows: rows, columns: columns) { i, j in
                        logit(layer, head, i, j).map { $0 + random.uniform(0.8) }
                    }
                }
            }
        }
        let S = source.count, T = target.count
        let encoder = maps(rows: S, columns: S) { layer, head, i, j in
            let shift = head % 3 - 1
            return -Float(abs(i + shift - j)) * Float(2 + layer) / 2
        }
        let decoder = maps(rows: T, columns: T) { _, head, i, j in
            j > i ? nil : (head == 0 ? -Float(i - j) : (head == 1 ? (j == 0 ? 2 : 0) : -Float(abs(i - 1 - j))))
        }
        let cross = maps(rows: T, columns: S) { layer, _, i, j in
            let aligned = Float(i) * Float(S - 1) / Float(max(T - 1, 1))
            return -abs(aligned - Float(j)) * Float(1 + layer)
        }
        return [
            .init(title: "Encoder self-attention", rowTokens: source, columnTokens: source, maps: encoder),
            .init(title: "Decoder self-attention", rowTokens: target, columnTokens: target, maps: decoder),
            .init(title: "Cross-attention", rowTokens: target, columnTokens: source, maps: cross),
        ]
    }
}
