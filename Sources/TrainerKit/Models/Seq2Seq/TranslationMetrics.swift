// Translation-quality metrics: corpus BLEU and chrF exactly as sacreBLEU computes them by default,
// and character / word error rates. Pure Swift; checked against sacreBLEU 2.6.0 by
// Tests/TrainerKitTests/Evaluation/TranslationMetricsTests.swift (fixtures and the script that made
// them in Tests/TrainerKitTests/Fixtures/metrics/).
//
// Text is handled as Unicode scalars (code points), never as Swift `Character`s or with `String`
// equality: sacreBLEU works on Python `str`, whose items are code points and whose comparison is
// code point by code point. So "è" (U+00E8) and "e" + U+0300 are different here, as in sacreBLEU,
// although Swift's `==` calls them equal. Whitespace is Python's `str.split()` whitespace.

import Foundation

/// Corpus BLEU with its parts, as sacreBLEU's `BLEUScore` reports them.
public struct BLEUScore: Sendable, Equatable {
    /// BLEU in 0...100: `brevityPenalty · exp(mean of log precisions)`, precisions in percent.
    public var score: Double
    /// The (smoothed) modified n-gram precisions for n = 1...4, in percent (sacreBLEU's `precisions`).
    public var precisions: [Double]
    /// `exp(1 − referenceLength / hypothesisLength)` when the hypotheses are shorter, else 1
    /// (0 when the hypotheses are empty).
    public var brevityPenalty: Double
    /// Tokens in all hypotheses after 13a tokenization (sacreBLEU's `sys_len`).
    public var hypothesisLength: Int
    /// Tokens in all references after 13a tokenization (sacreBLEU's `ref_len`).
    public var referenceLength: Int
    /// Hypothesis n-grams found in the reference, clipped to the reference count, for n = 1...4
    /// (sacreBLEU's `counts`).
    public var matchingNGrams: [Int]
    /// Hypothesis n-grams for n = 1...4 (sacreBLEU's `totals`).
    public var totalNGrams: [Int]

    /// Creates a score from its parts.
    public init(
        score: Double, precisions: [Double], brevityPenalty: Double, hypothesisLength: Int, referenceLength: Int,
        matchingNGrams: [Int], totalNGrams: [Int]
    ) {
        self.score = score
        self.precisions = precisions
        self.brevityPenalty = brevityPenalty
        self.hypothesisLength = hypothesisLength
        self.referenceLength = referenceLength
        self.matchingNGrams = matchingNGrams
        self.totalNGrams = totalNGrams
    }
}

/// Corpus-level translation metrics. Every function takes one reference per hypothesis; the two
/// arrays must be equally long (a precondition).
public enum TranslationMetrics {
    /// The highest n-gram order of BLEU.
    public static let bleuOrder = 4
    /// The highest character n-gram order of chrF.
    public static let chrFOrder = 6
    /// chrF's β: recall weighs β² = 4 times as much as precision.
    public static let chrFBeta = 2

    /// The four scores evaluation reports, in this order: ("bleu", BLEU), ("chrf", chrF), ("cer",
    /// character error rate), ("wer", word error rate); BLEU and chrF in 0...100, the rates as
    /// fractions.
    public static func scores(hypotheses: [String], references: [String]) -> [(String, Double)] {
        [("bleu", bleu(hypotheses: hypotheses, references: references).score),
         ("chrf", chrF(hypotheses: hypotheses, references: references)),
         ("cer", characterErrorRate(hypotheses: hypotheses, references: references)),
         ("wer", wordErrorRate(hypotheses: hypotheses, references: references))]
    }

    // MARK: BLEU

    /// Corpus BLEU exactly as sacreBLEU's default `BLEU()` computes it
    /// (signature `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp`).
    ///
    /// Each segment loses its trailing whitespace and is tokenized by ``tokenized13a(_:)``; n-gram
    /// counts for n = 1...4 are clipped to the reference counts per segment and summed over the
    /// corpus, as are the lengths. Then, as sacreBLEU's `compute_bleu`:
    /// - no match of any order at all: score 0, precisions all 0;
    /// - an order with no hypothesis n-grams (a corpus of fewer than n tokens per segment): its
    ///   precision and those of higher orders stay 0, so the score is 0;
    /// - an order with n-grams but no match ("exp" smoothing, NIST mteval-v13a): precision
    ///   100 / (2ᵏ · total), k counting the zero-match orders so far;
    /// - score = brevityPenalty · exp(Σ log precisionₙ / 4).
    ///
    /// An empty corpus scores 0 with brevity penalty 1 (sacreBLEU itself raises on one).
    /// - Complexity: O(total characters), with hashing of n-grams.
    public static func bleu(hypotheses: [String], references: [String]) -> BLEUScore {
        precondition(hypotheses.count == references.count, "bleu: \(hypotheses.count) hypotheses, \(references.count) references")
        var vocabulary = TokenVocabulary()
        var matches = [Int](repeating: 0, count: bleuOrder)
        var totals = [Int](repeating: 0, count: bleuOrder)
        var hypothesisLength = 0, referenceLength = 0
        for (hypothesis, reference) in zip(hypotheses, references) {
            let hypothesisTokens = vocabulary.ids(of: tokens13a(pythonRightStripped(Array(hypothesis.unicodeScalars))))
            let referenceTokens = vocabulary.ids(of: tokens13a(pythonRightStripped(Array(reference.unicodeScalars))))
            hypothesisLength += hypothesisTokens.count
            referenceLength += referenceTokens.count
            for n in 1 ... bleuOrder {
                let referenceCounts = nGramCounts(referenceTokens, order: n)
                for (nGram, count) in nGramCounts(hypothesisTokens, order: n) {
                    totals[n - 1] += count
                    matches[n - 1] += min(count, referenceCounts[nGram] ?? 0)
                }
            }
        }
        return bleuScore(matches: matches, totals: totals, hypothesisLength: hypothesisLength,
                         referenceLength: referenceLength)
    }

    /// BLEU from its corpus statistics: sacreBLEU's `BLEU.compute_bleu` with `smooth_method="exp"`
    /// and `effective_order=False`, operation for operation.
    static func bleuScore(matches: [Int], totals: [Int], hypothesisLength: Int, referenceLength: Int) -> BLEUScore {
        var brevityPenalty = 1.0
        if hypothesisLength < referenceLength {
            brevityPenalty = hypothesisLength > 0 ? exp(1 - Double(referenceLength) / Double(hypothesisLength)) : 0
        }
        var precisions = [Double](repeating: 0, count: bleuOrder)
        var score = 0.0
        if matches.contains(where: { $0 != 0 }) {
            var smoothing = 1.0
            for n in 0 ..< bleuOrder {
                if totals[n] == 0 { break }
                if matches[n] == 0 {
                    smoothing *= 2
                    precisions[n] = 100 / (smoothing * Double(totals[n]))
                } else {
                    precisions[n] = 100 * Double(matches[n]) / Double(totals[n])
                }
            }
            // sacreBLEU's `my_log` floors log(0) at −9999999999, which makes the score exactly 0.
            let logSum = precisions.reduce(0.0) { $0 + ($1 == 0 ? -9_999_999_999 : log($1)) }
            score = brevityPenalty * exp(logSum / Double(bleuOrder))
        }
        return BLEUScore(score: score, precisions: precisions, brevityPenalty: brevityPenalty,
                         hypothesisLength: hypothesisLength, referenceLength: referenceLength,
                         matchingNGrams: matches, totalNGrams: totals)
    }

    // MARK: chrF

    /// Corpus chrF exactly as sacreBLEU's default `CHRF()` computes it (chrF2,
    /// signature `nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no`).
    ///
    /// All whitespace is removed from each segment; for each order n = 1...6 the segment gives
    /// (hypothesis n-grams, reference n-grams, clipped matches), where the hypothesis count is 0 when
    /// the reference has no n-grams of that order (sacreBLEU's `_get_match_statistics`). These are
    /// summed over the corpus; precision and recall are averaged over the orders where both the
    /// hypothesis and the reference counts are positive (`eps_smoothing=False`, the "effective order");
    /// the score is 100 · (1 + β²) P R / (β² P + R), or 0 when P + R = 0.
    ///
    /// An empty corpus scores 0.
    /// - Complexity: O(6 · total characters), with hashing of n-grams.
    public static func chrF(hypotheses: [String], references: [String]) -> Double {
        precondition(hypotheses.count == references.count, "chrF: \(hypotheses.count) hypotheses, \(references.count) references")
        // (order, 3): hypothesis n-grams, reference n-grams, matches.
        var statistics = [Int](repeating: 0, count: 3 * chrFOrder)
        for (hypothesis, reference) in zip(hypotheses, references) {
            let hypothesisCharacters = Array(hypothesis.unicodeScalars).filter { !isPythonWhitespace($0) }
            let referenceCharacters = Array(reference.unicodeScalars).filter { !isPythonWhitespace($0) }
            for n in 1 ... chrFOrder {
                let referenceCounts = nGramCounts(referenceCharacters, order: n)
                var hypothesisCount = 0, matchCount = 0
                for (nGram, count) in nGramCounts(hypothesisCharacters, order: n) {
                    hypothesisCount += count
                    matchCount += min(count, referenceCounts[nGram] ?? 0)
                }
                statistics[3 * (n - 1)] += referenceCounts.isEmpty ? 0 : hypothesisCount
                statistics[3 * (n - 1) + 1] += max(referenceCharacters.count - n + 1, 0)
                statistics[3 * (n - 1) + 2] += matchCount
            }
        }
        return chrFScore(statistics: statistics)
    }

    /// chrF from its corpus statistics: sacreBLEU's `CHRF._compute_f_score` with
    /// `eps_smoothing=False`, operation for operation.
    static func chrFScore(statistics: [Int]) -> Double {
        let factor = Double(chrFBeta * chrFBeta)
        var averagePrecision = 0.0, averageRecall = 0.0
        var effectiveOrder = 0
        for n in 0 ..< chrFOrder {
            let hypothesisCount = statistics[3 * n], referenceCount = statistics[3 * n + 1]
            let matchCount = Double(statistics[3 * n + 2])
            if hypothesisCount > 0 && referenceCount > 0 {
                averagePrecision += matchCount / Double(hypothesisCount)
                averageRecall += matchCount / Double(referenceCount)
                effectiveOrder += 1
            }
        }
        if effectiveOrder == 0 { return 0 }
        averagePrecision /= Double(effectiveOrder)
        averageRecall /= Double(effectiveOrder)
        if averagePrecision + averageRecall == 0 { return 0 }
        let score = (1 + factor) * averagePrecision * averageRecall / (factor * averagePrecision + averageRecall)
        return 100 * score
    }

    // MARK: Error rates

    /// Character error rate: Σ Levenshtein distance between the segments' Unicode scalars (code
    /// points, spaces included, no normalisation) / Σ reference scalars. 0 is perfect; above 1 when
    /// the hypotheses are much longer than the references.
    ///
    /// Unicode scalars rather than `Character`s so that the rate agrees with Python's
    /// `len(str)`-based tools; "e" + U+0301 counts 2. When the references have no characters the
    /// rate is 0 if the hypotheses have none either (an empty corpus included), else +∞.
    /// - Complexity: O(Σ |hypothesis| · |reference|) time, O(longest segment) memory.
    public static func characterErrorRate(hypotheses: [String], references: [String]) -> Double {
        precondition(hypotheses.count == references.count,
                     "characterErrorRate: \(hypotheses.count) hypotheses, \(references.count) references")
        var distance = 0, referenceLength = 0
        for (hypothesis, reference) in zip(hypotheses, references) {
            let referenceCharacters = Array(reference.unicodeScalars)
            distance += levenshteinDistance(Array(hypothesis.unicodeScalars), referenceCharacters)
            referenceLength += referenceCharacters.count
        }
        return errorRate(distance: distance, referenceLength: referenceLength)
    }

    /// Word error rate: Σ Levenshtein distance between the segments' words / Σ reference words.
    /// Words are split on whitespace as Python's `str.split()` does and compared scalar by scalar;
    /// no tokenization, case folding or punctuation removal ("mat." and "mat" differ).
    ///
    /// When the references have no words the rate is 0 if the hypotheses have none either (an empty
    /// corpus included), else +∞.
    /// - Complexity: O(Σ |hypothesis words| · |reference words|) time, O(longest segment) memory.
    public static func wordErrorRate(hypotheses: [String], references: [String]) -> Double {
        precondition(hypotheses.count == references.count,
                     "wordErrorRate: \(hypotheses.count) hypotheses, \(references.count) references")
        var distance = 0, referenceLength = 0
        for (hypothesis, reference) in zip(hypotheses, references) {
            let referenceWords = pythonSplit(Array(reference.unicodeScalars))
            distance += levenshteinDistance(pythonSplit(Array(hypothesis.unicodeScalars)), referenceWords)
            referenceLength += referenceWords.count
        }
        return errorRate(distance: distance, referenceLength: referenceLength)
    }

    /// distance / referenceLength, with 0/0 = 0 and d/0 = +∞.
    private static func errorRate(distance: Int, referenceLength: Int) -> Double {
        if referenceLength == 0 { return distance == 0 ? 0 : .infinity }
        return Double(distance) / Double(referenceLength)
    }

    /// The Levenshtein distance: the fewest insertions, deletions and substitutions (each costing 1)
    /// that turn `a` into `b`.
    ///
    /// The classic dynamic programme (Wagner–Fischer) keeping one row, over the shorter sequence.
    /// - Complexity: O(|a| · |b|) time, O(min(|a|, |b|)) memory.
    public static func levenshteinDistance<Element: Equatable>(_ a: [Element], _ b: [Element]) -> Int {
        let (long, short) = a.count >= b.count ? (a, b) : (b, a)
        if short.isEmpty { return long.count }
        // row[j]: distance between the first i items of `long` and the first j items of `short`.
        var row = Array(0 ... short.count)  // (short.count + 1)
        for i in 1 ... long.count {
            var diagonal = row[0]  // distance(i − 1, j − 1)
            row[0] = i
            for j in 1 ... short.count {
                let above = row[j]  // distance(i − 1, j)
                let substitution = diagonal + (long[i - 1] == short[j - 1] ? 0 : 1)
                row[j] = min(above + 1, row[j - 1] + 1, substitution)
                diagonal = above
            }
        }
        return row[short.count]
    }

    // MARK: 13a tokenization

    /// `line` tokenized as sacreBLEU's `Tokenizer13a` does (the mteval-v13a.pl tokenizer of WMT),
    /// tokens joined by single spaces.
    ///
    /// In order, each a replace-all over code points as Python's `str.replace` / `re.sub` do:
    /// 1. remove "<skipped>", remove "-\n" (joining a hyphenated line break), "\n" → " ";
    /// 2. "&quot;" → `"`, "&amp;" → "&", "&lt;" → "<", "&gt;" → ">", one after the other (so
    ///    "&amp;lt;" becomes "<");
    /// 3. pad with a space at both ends and put spaces around every ASCII symbol in
    ///    ``isSeparated13a(_:)`` (everything but letters, digits, `'`, `,`, `-`, `.`);
    /// 4. "." and "," become separate tokens unless preceded by a digit, then unless followed by a
    ///    digit ("3.5" and "1,000" stay whole, "5," and ",5" split); only ASCII digits count;
    /// 5. "-" after a digit is split off ("10-20" → "10 - 20", "x-1" stays);
    /// 6. split on whitespace, join with single spaces.
    ///
    /// BLEU also strips trailing whitespace before this, which matters only for a final "-\n".
    public static func tokenized13a(_ line: String) -> String {
        var result = String.UnicodeScalarView()
        for (index, token) in tokens13a(Array(line.unicodeScalars)).enumerated() {
            if index > 0 { result.append(" ") }
            result.append(contentsOf: token)
        }
        return String(result)
    }

    /// The tokens of ``tokenized13a(_:)``, as code points.
    static func tokens13a(_ line: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var text = line
        text = replacingAll("<skipped>", with: "", in: text)
        text = replacingAll("-\n", with: "", in: text)
        text = replacingAll("\n", with: " ", in: text)
        if text.contains("&") {
            text = replacingAll("&quot;", with: "\"", in: text)
            text = replacingAll("&amp;", with: "&", in: text)
            text = replacingAll("&lt;", with: "<", in: text)
            text = replacingAll("&gt;", with: ">", in: text)
        }
        // Regexp 1: `([\{-\~\[-\` -\&\(-\+\:-\@\/])` → ` \1 ` on " line ".
        var padded: [Unicode.Scalar] = [" "]
        for c in text {
            if isSeparated13a(c) { padded += [" ", c, " "] } else { padded.append(c) }
        }
        padded.append(" ")
        let isDigit: (Unicode.Scalar) -> Bool = { $0.value >= 0x30 && $0.value <= 0x39 }  // [0-9]: ASCII only
        let isPeriodOrComma: (Unicode.Scalar) -> Bool = { $0 == "." || $0 == "," }
        // Regexp 2: `([^0-9])([\.,])` → `\1 \2 `.
        padded = substitutingPairs(in: padded, first: { !isDigit($0) }, second: isPeriodOrComma) { [$0, " ", $1, " "] }
        // Regexp 3: `([\.,])([^0-9])` → ` \1 \2`.
        padded = substitutingPairs(in: padded, first: isPeriodOrComma, second: { !isDigit($0) }) { [" ", $0, " ", $1] }
        // Regexp 4: `([0-9])(-)` → `\1 \2 `.
        padded = substitutingPairs(in: padded, first: isDigit, second: { $0 == "-" }) { [$0, " ", $1, " "] }
        return pythonSplit(padded)
    }

    /// Whether 13a's first regexp puts spaces around `c`: the class `[\{-\~\[-\` -\&\(-\+\:-\@\/]`,
    /// i.e. `{|}~`, ``[\]^_` ``, space `!"#$%&`, `()*+`, `:;<=>?@` and `/`.
    static func isSeparated13a(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x7B ... 0x7E, 0x5B ... 0x60, 0x20 ... 0x26, 0x28 ... 0x2B, 0x3A ... 0x40, 0x2F: true
        default: false
        }
    }

    /// `re.sub` of a two-character pattern `(first)(second)`: scanning left to right, each
    /// non-overlapping match is replaced and scanning resumes after it.
    private static func substitutingPairs(
        in text: [Unicode.Scalar], first: (Unicode.Scalar) -> Bool, second: (Unicode.Scalar) -> Bool,
        replacement: (Unicode.Scalar, Unicode.Scalar) -> [Unicode.Scalar]
    ) -> [Unicode.Scalar] {
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(text.count + text.count / 2)
        var i = 0
        while i < text.count {
            if i + 1 < text.count && first(text[i]) && second(text[i + 1]) {
                result += replacement(text[i], text[i + 1])
                i += 2
            } else {
                result.append(text[i])
                i += 1
            }
        }
        return result
    }

    /// Python's `str.replace(pattern, replacement)` over code points: non-overlapping, left to right.
    private static func replacingAll(_ pattern: String, with replacement: String, in text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let pattern = Array(pattern.unicodeScalars), replacement = Array(replacement.unicodeScalars)
        guard text.count >= pattern.count, text.contains(pattern[0]) else { return text }
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if i + pattern.count <= text.count && text[i ..< i + pattern.count].elementsEqual(pattern) {
                result += replacement
                i += pattern.count
            } else {
                result.append(text[i])
                i += 1
            }
        }
        return result
    }

    // MARK: Python string semantics

    /// Whether Python's `str.isspace()` holds for `c` (Unicode 14, Python 3.11): the separators
    /// `str.split()` and `str.rstrip()` use. Unlike Swift's `properties.isWhitespace` (Unicode
    /// White_Space) it includes the information separators U+001C...U+001F.
    static func isPythonWhitespace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09 ... 0x0D, 0x1C ... 0x20, 0x85, 0xA0, 0x1680, 0x2000 ... 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            true
        default: false
        }
    }

    /// Python's `str.split()`: the maximal runs of non-whitespace.
    static func pythonSplit(_ text: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        text.split(whereSeparator: isPythonWhitespace).map(Array.init)
    }

    /// Python's `str.rstrip()`.
    private static func pythonRightStripped(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var end = text.count
        while end > 0 && isPythonWhitespace(text[end - 1]) { end -= 1 }
        return Array(text[..<end])
    }

    // MARK: n-grams

    /// Counts of the contiguous n-grams of `items` (none when `items` is shorter than `order`).
    private static func nGramCounts<Item: Hashable>(_ items: [Item], order: Int) -> [ArraySlice<Item>: Int] {
        var counts: [ArraySlice<Item>: Int] = [:]
        guard items.count >= order else { return counts }
        for start in 0 ... items.count - order {
            counts[items[start ..< start + order], default: 0] += 1
        }
        return counts
    }
}

/// Small integer ids for tokens, so that BLEU's n-grams hash as short `Int` arrays. Tokens are
/// keyed by their code points (not by `String`, whose equality is canonical equivalence).
private struct TokenVocabulary {
    var ids: [[Unicode.Scalar]: Int] = [:]

    /// The id of each token, assigning new ids to tokens not seen before.
    mutating func ids(of tokens: [[Unicode.Scalar]]) -> [Int] {
        tokens.map { token in
            if let id = ids[token] { return id }
            let id = ids.count
            ids[token] = id
            return id
        }
    }
}
