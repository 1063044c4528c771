import Foundation
import XCTest
import TrainerKit

/// BLEU, chrF, CER and WER against sacreBLEU (tier 2: Fixtures/metrics/expected.json, written by
/// Fixtures/metrics/make_expected.py) and against hand-checked small cases.
final class TranslationMetricsTests: XCTestCase {
    /// BLEU and chrF are deterministic formulas over integer counts: only the last few bits may differ.
    let scoreTolerance = 1e-6
    /// CER and WER are one division of two integers.
    let rateTolerance = 1e-9

    // MARK: Against sacreBLEU

    func testCorporaMatchSacreBLEU() throws {
        let expected = try loadExpected()
        print("sacreBLEU \(expected["sacrebleu_version"] as? String ?? "?"): \(expected["bleu_signature"] as? String ?? "?")")
        let corpora = try XCTUnwrap(expected["corpora"] as? [String: Any])
        XCTAssertEqual(corpora.count, 2)
        for (name, value) in corpora.sorted(by: { $0.key < $1.key }) {
            let values = try XCTUnwrap(value as? [String: Any])
            let hypotheses = try readLines(try XCTUnwrap(values["hypotheses_file"] as? String))
            let references = try readLines(try XCTUnwrap(values["references_file"] as? String))
            XCTAssertEqual(hypotheses.count, references.count, name)
            try assertMatches(values, hypotheses: hypotheses, references: references, name)
        }
    }

    func testSmallCasesMatchSacreBLEU() throws {
        let cases = try XCTUnwrap(try loadExpected()["cases"] as? [String: Any])
        XCTAssertEqual(cases.count, 10)
        for (name, value) in cases.sorted(by: { $0.key < $1.key }) {
            let values = try XCTUnwrap(value as? [String: Any])
            try assertMatches(values, hypotheses: try XCTUnwrap(values["hypotheses"] as? [String]),
                              references: try XCTUnwrap(values["references"] as? [String]), name)
        }
    }

    func testTokenizer13aMatchesSacreBLEU() throws {
        let examples = try XCTUnwrap(try loadExpected()["tokenizer_13a"] as? [[String: String]])
        XCTAssertEqual(examples.count, 20)
        for example in examples {
            let input = try XCTUnwrap(example["input"]), output = try XCTUnwrap(example["output"])
            let tokenized = TranslationMetrics.tokenized13a(input)
            // Compare code points: `==` on String would accept canonically equivalent results.
            XCTAssertEqual(Array(tokenized.unicodeScalars), Array(output.unicodeScalars),
                           "13a(\(input.debugDescription)) = \(tokenized.debugDescription), sacreBLEU \(output.debugDescription)")
        }
    }

    // MARK: Hand-checked

    func testTokenizer13aExamples() {
        let examples: [(String, String)] = [
            ("Hello, world!", "Hello , world !"),
            ("It costs 3.5 euros, not 1,000.", "It costs 3.5 euros , not 1,000 ."),
            ("Pages 10-20, well-known.", "Pages 10 - 20 , well-known ."),
            ("\"Sì\", disse (forse).", "\" Sì \" , disse ( forse ) ."),
            ("Tom &amp; Jerry &amp;lt;3", "Tom & Jerry < 3"),
            ("don't  stop\tnow ", "don't stop now"),
        ]
        for (input, output) in examples {
            XCTAssertEqual(TranslationMetrics.tokenized13a(input), output, input)
        }
    }

    func testIdenticalCorpusIsPerfect() {
        let corpus = ["The cat sat on the mat.", "Il gatto è sul tappeto, 3.5 volte!", "Sì."]
        let bleu = TranslationMetrics.bleu(hypotheses: corpus, references: corpus)
        XCTAssertEqual(bleu.score, 100, accuracy: 1e-12)
        XCTAssertEqual(bleu.precisions, [100, 100, 100, 100])
        XCTAssertEqual(bleu.brevityPenalty, 1)
        XCTAssertEqual(bleu.hypothesisLength, 18)
        XCTAssertEqual(bleu.referenceLength, 18)
        XCTAssertEqual(TranslationMetrics.chrF(hypotheses: corpus, references: corpus), 100, accuracy: 1e-12)
        XCTAssertEqual(TranslationMetrics.characterErrorRate(hypotheses: corpus, references: corpus), 0)
        XCTAssertEqual(TranslationMetrics.wordErrorRate(hypotheses: corpus, references: corpus), 0)
    }

    func testBrevityPenalty() {
        // 4 matching tokens against 8: every precision is 100, BP = exp(1 − 8/4) = 1/e.
        let bleu = TranslationMetrics.bleu(hypotheses: ["the cat sat down"], references: ["the cat sat down on the red mat"])
        XCTAssertEqual(bleu.precisions, [100, 100, 100, 100])
        XCTAssertEqual(bleu.brevityPenalty, exp(-1), accuracy: 1e-15)
        XCTAssertEqual(bleu.score, 100 * exp(-1), accuracy: 1e-12)
        XCTAssertEqual(bleu.hypothesisLength, 4)
        XCTAssertEqual(bleu.referenceLength, 8)
        // Longer hypotheses are not penalised.
        XCTAssertEqual(TranslationMetrics.bleu(hypotheses: ["a b c d e"], references: ["a b c d"]).brevityPenalty, 1)
    }

    func testExpSmoothing() {
        // Unigrams 3/5; no bigram, trigram or 4-gram matches: 100/(2·4), 100/(4·3), 100/(8·2).
        let bleu = TranslationMetrics.bleu(hypotheses: ["a b c d e"], references: ["a x c y e"])
        XCTAssertEqual(bleu.matchingNGrams, [3, 0, 0, 0])
        XCTAssertEqual(bleu.totalNGrams, [5, 4, 3, 2])
        XCTAssertEqual(bleu.precisions[0], 60, accuracy: 1e-12)
        XCTAssertEqual(bleu.precisions[1], 12.5, accuracy: 1e-12)
        XCTAssertEqual(bleu.precisions[2], 100.0 / 12, accuracy: 1e-12)
        XCTAssertEqual(bleu.precisions[3], 6.25, accuracy: 1e-12)
        XCTAssertEqual(bleu.score, pow(60 * 12.5 * (100.0 / 12) * 6.25, 0.25), accuracy: 1e-10)
        // Fewer than 4 tokens: no 4-grams at all, so BLEU is 0 though everything matches.
        let short = TranslationMetrics.bleu(hypotheses: ["a b c"], references: ["a b c"])
        XCTAssertEqual(short.precisions, [100, 100, 100, 0])
        XCTAssertEqual(short.score, 0)
    }

    func testChrFHandChecked() {
        // "ab" vs "abc": order 1 P = 1, R = 2/3; order 2 P = 1, R = 1/2; order 3 has a reference
        // trigram but no hypothesis one, orders 4–6 nothing: effective order 2.
        // P = 1, R = 7/12, chrF2 = 5PR / (4P + R) = 7/11.
        XCTAssertEqual(TranslationMetrics.chrF(hypotheses: ["ab"], references: ["abc"]), 700.0 / 11, accuracy: 1e-12)
        // Whitespace is ignored.
        XCTAssertEqual(TranslationMetrics.chrF(hypotheses: ["a b  c"], references: ["abc"]), 100, accuracy: 1e-12)
        XCTAssertEqual(TranslationMetrics.chrF(hypotheses: ["xyz"], references: ["abc"]), 0)
    }

    func testErrorRatesHandChecked() {
        XCTAssertEqual(TranslationMetrics.levenshteinDistance(Array("kitten"), Array("sitting")), 3)
        XCTAssertEqual(TranslationMetrics.characterErrorRate(hypotheses: ["kitten"], references: ["sitting"]), 3.0 / 7)
        // Corpus level: (3 + 0) / (7 + 3), not the mean of the sentence rates.
        XCTAssertEqual(TranslationMetrics.characterErrorRate(hypotheses: ["kitten", "abc"], references: ["sitting", "abc"]),
                       0.3)
        XCTAssertEqual(TranslationMetrics.wordErrorRate(hypotheses: ["the cat sat"], references: ["the cat sat on the mat"]),
                       0.5)
        XCTAssertEqual(TranslationMetrics.wordErrorRate(hypotheses: ["a  b\tc d e f"], references: ["a b"]), 2)
        // Unicode scalars: precomposed "è" against "e" + U+0300 is one substitution and one insertion.
        XCTAssertEqual(TranslationMetrics.characterErrorRate(hypotheses: ["\u{E8}"], references: ["e\u{300}"]), 1)
    }

    func testEmptyInputsDoNotCrash() {
        let bleu = TranslationMetrics.bleu(hypotheses: [], references: [])
        XCTAssertEqual(bleu.score, 0)
        XCTAssertEqual(bleu.brevityPenalty, 1)
        XCTAssertEqual(TranslationMetrics.chrF(hypotheses: [], references: []), 0)
        XCTAssertEqual(TranslationMetrics.characterErrorRate(hypotheses: [], references: []), 0)
        XCTAssertEqual(TranslationMetrics.wordErrorRate(hypotheses: [], references: []), 0)
        // Empty strings.
        XCTAssertEqual(TranslationMetrics.bleu(hypotheses: [""], references: [""]).score, 0)
        XCTAssertEqual(TranslationMetrics.chrF(hypotheses: [""], references: [""]), 0)
        XCTAssertEqual(TranslationMetrics.characterErrorRate(hypotheses: [""], references: [""]), 0)
        XCTAssertEqual(TranslationMetrics.wordErrorRate(hypotheses: [" "], references: [""]), 0)
        // Empty references against a non-empty hypothesis: the rate is unbounded.
        XCTAssertEqual(TranslationMetrics.characterErrorRate(hypotheses: ["abc"], references: [""]), .infinity)
        let emptyHypothesis = TranslationMetrics.bleu(hypotheses: [""], references: ["a b c d"])
        XCTAssertEqual(emptyHypothesis.score, 0)
        XCTAssertEqual(emptyHypothesis.brevityPenalty, 0)
    }

    /// The one-row Levenshtein against the full-matrix definition on random short sequences.
    func testLevenshteinMatchesFullMatrix() {
        var random = TestRandom(seed: 7)
        for _ in 0 ..< 300 {
            let a = (0 ..< Int(random.next() % 12)).map { _ in random.next() % 4 }
            let b = (0 ..< Int(random.next() % 12)).map { _ in random.next() % 4 }
            let expected = fullMatrixLevenshtein(a, b)
            XCTAssertEqual(TranslationMetrics.levenshteinDistance(a, b), expected, "\(a) vs \(b)")
            XCTAssertEqual(TranslationMetrics.levenshteinDistance(b, a), expected, "\(b) vs \(a)")
        }
    }

    // MARK: Helpers

    /// Compares every metric on one corpus with the values sacreBLEU (and make_expected.py) wrote.
    private func assertMatches(
        _ values: [String: Any], hypotheses: [String], references: [String], _ name: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let bleu = TranslationMetrics.bleu(hypotheses: hypotheses, references: references)
        let chrF = TranslationMetrics.chrF(hypotheses: hypotheses, references: references)
        let cer = TranslationMetrics.characterErrorRate(hypotheses: hypotheses, references: references)
        let wer = TranslationMetrics.wordErrorRate(hypotheses: hypotheses, references: references)
        let expectedBLEU = try XCTUnwrap(values["bleu"] as? Double, file: file, line: line)
        let expectedPrecisions = try XCTUnwrap(values["bleu_precisions"] as? [Double], file: file, line: line)
        let expectedChrF = try XCTUnwrap(values["chrf"] as? Double, file: file, line: line)
        let expectedCER = try XCTUnwrap(values["cer"] as? Double, file: file, line: line)
        let expectedWER = try XCTUnwrap(values["wer"] as? Double, file: file, line: line)
        let precisionDifference = zip(bleu.precisions, expectedPrecisions).map { abs($0 - $1) }.max() ?? 0
        print("""
            \(name) (\(hypotheses.count) segments): \
            BLEU \(bleu.score) (sacreBLEU \(expectedBLEU), |Δ| \(abs(bleu.score - expectedBLEU))), \
            precisions max |Δ| \(precisionDifference), BP \(bleu.brevityPenalty), \
            chrF \(chrF) (sacreBLEU \(expectedChrF), |Δ| \(abs(chrF - expectedChrF))), \
            CER \(cer) (|Δ| \(abs(cer - expectedCER))), WER \(wer) (|Δ| \(abs(wer - expectedWER)))
            """)
        XCTAssertEqual(bleu.score, expectedBLEU, accuracy: scoreTolerance, "\(name): BLEU", file: file, line: line)
        XCTAssertEqual(bleu.precisions.count, expectedPrecisions.count, "\(name): precisions", file: file, line: line)
        XCTAssertLessThanOrEqual(precisionDifference, scoreTolerance, "\(name): precisions", file: file, line: line)
        XCTAssertEqual(bleu.brevityPenalty, try XCTUnwrap(values["bleu_brevity_penalty"] as? Double),
                       accuracy: scoreTolerance, "\(name): brevity penalty", file: file, line: line)
        XCTAssertEqual(bleu.hypothesisLength, values["bleu_hypothesis_length"] as? Int, "\(name): hyp_len", file: file, line: line)
        XCTAssertEqual(bleu.referenceLength, values["bleu_reference_length"] as? Int, "\(name): ref_len", file: file, line: line)
        XCTAssertEqual(bleu.matchingNGrams, values["bleu_matches"] as? [Int], "\(name): counts", file: file, line: line)
        XCTAssertEqual(bleu.totalNGrams, values["bleu_totals"] as? [Int], "\(name): totals", file: file, line: line)
        XCTAssertEqual(chrF, expectedChrF, accuracy: scoreTolerance, "\(name): chrF", file: file, line: line)
        XCTAssertEqual(cer, expectedCER, accuracy: rateTolerance, "\(name): CER", file: file, line: line)
        XCTAssertEqual(wer, expectedWER, accuracy: rateTolerance, "\(name): WER", file: file, line: line)
    }

    private func loadExpected() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("metrics/expected.json")))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The lines of a fixture text file, split on "\n" only (as make_expected.py does).
    private func readLines(_ name: String) throws -> [String] {
        let text = try String(contentsOfFile: fixturePath("metrics/" + name), encoding: .utf8)
        var scalars = Array(text.unicodeScalars)
        XCTAssertEqual(scalars.last, "\n", "\(name) must end with a newline")
        scalars.removeLast()
        return scalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            var view = String.UnicodeScalarView()
            view.append(contentsOf: line)
            return String(view)
        }
    }

    /// Edit distance from the full (|a| + 1) × (|b| + 1) table: the naive twin of `levenshteinDistance`.
    private func fullMatrixLevenshtein<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0 ... a.count { table[i][0] = i }
        for j in 0 ... b.count { table[0][j] = j }
        for i in stride(from: 1, through: a.count, by: 1) {
            for j in stride(from: 1, through: b.count, by: 1) {
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
        }
        return table[a.count][b.count]
    }
}
