import Foundation
import XCTest
import TrainerKit

/// Beam search against hand-made scorers (no training, so no dependence on a BLAS kernel's
/// rounding), against exhaustive search, and on an untrained translator at every source length.
final class BeamSearchTests: XCTestCase {
    // Vocabulary of the hand-made scorers: [PAD] 0, [SOS] 1, [EOS] 2, [UNK] 3, then the words a, b, c.
    static let specials = SpecialTokens(pad: 0, sos: 1, eos: 2, unk: 3)
    let eos: Int32 = 2, a: Int32 = 4, b: Int32 = 5, c: Int32 = 6

    /// A scorer from a table of next-token probabilities per prefix (without [SOS]); tokens not
    /// listed get a probability of 1e-6, prefixes not listed are near-uniform.
    func scorer(_ table: [[Int32]: [Int32: Double]], vocabulary: Int = 7) -> ([[Int32]]) -> [[Float]] {
        { prefixes in
            prefixes.map { prefix in
                let next = table[Array(prefix.dropFirst())] ?? [:]
                return (0 ..< vocabulary).map { Float(log(next[Int32($0)] ?? 1e-6)) }
            }
        }
    }

    /// Two short hypotheses end early, one of them ranked below the beam; a longer one is more
    /// likely. Stopping once `beam` hypotheses have ended would return "b" (0.3); the right answer
    /// is "a c" (0.4), at either length penalty.
    func testEarlyEndingsDoNotCutOffAMoreLikelyLiveHypothesis() {
        let table: [[Int32]: [Int32: Double]] = [
            []: [a: 0.5, b: 0.3, eos: 0.2],
            [a]: [c: 0.8, eos: 0.2],  // "a c" 0.4 lives on; "a" 0.1 ends below the beam
            [b]: [eos: 1.0],  // "b" 0.3 ends within the beam
            [a, c]: [eos: 1.0],  // "a c" ends at 0.4
        ]
        for alpha in [0.0, 0.6] {
            let search = BeamSearch(beam: 2, lengthPenalty: alpha, specials: Self.specials)
            XCTAssertEqual(search.search(limits: [10], nextLogits: scorer(table)), [[a, c]], "α = \(alpha)")
        }
    }

    /// At the output limit the live hypotheses compete with the finished ones.
    func testLiveHypothesesCompeteAtTheLimit() {
        let table: [[Int32]: [Int32: Double]] = [
            []: [a: 0.6, eos: 0.3, b: 0.1],  // "" ends at 0.3
            [a]: [a: 0.9, eos: 0.1],  // "a a" reaches the limit at 0.54 without ending
        ]
        let search = BeamSearch(beam: 2, lengthPenalty: 0, specials: Self.specials)
        XCTAssertEqual(search.search(limits: [3], nextLogits: scorer(table)), [[a, a]])
    }

    /// Beam 1 with no length penalty is greedy decoding; [PAD] and [SOS] are never produced.
    func testBeamOfOneIsGreedyAndSkipsSpecials() {
        let table: [[Int32]: [Int32: Double]] = [
            []: [0: 0.5, a: 0.3, b: 0.2],  // [PAD] is the most likely: skipped
            [a]: [1: 0.6, b: 0.3, eos: 0.1],  // [SOS] is the most likely: skipped
            [a, b]: [eos: 0.6, a: 0.4],
        ]
        let search = BeamSearch(beam: 1, lengthPenalty: 0, specials: Self.specials)
        XCTAssertEqual(search.search(limits: [10], nextLogits: scorer(table)), [[a, b]])
    }

    /// With a beam wide enough to hold every sequence, beam search is exhaustive: it returns the
    /// sequence with the best length-normalised score among all that end or reach the limit.
    func testWideBeamFindsTheBestSequence() {
        let vocabulary = 6, limit = 5
        for seed in 1 ... 20 {
            var random = TestRandom(seed: UInt64(seed))
            var table: [[Int32]: [Int32: Double]] = [:]
            func fill(_ prefix: [Int32]) {
                guard prefix.count + 1 < limit else { return }
                var weights: [Int32: Double] = [:]
                for token in Int32(2) ..< Int32(vocabulary) { weights[token] = Double(random.next() % 1000 + 1) }
                let total = weights.values.reduce(0, +)
                table[prefix] = weights.mapValues { $0 / total }
                for token in Int32(3) ..< Int32(vocabulary) { fill(prefix + [token]) }
            }
            fill([])
            let score = scorer(table, vocabulary: vocabulary)
            for alpha in [0.0, 0.6, 1.5] {
                // Exhaustive: every sequence that ends with [EOS] or reaches the limit. A beam of 128
                // holds every candidate (at most 27 live hypotheses × 4 tokens).
                var best: (tokens: [Int32], score: Double) = ([], -.infinity)
                func visit(_ prefix: [Int32], _ logProbability: Double) {
                    let logits = score([[1] + prefix])[0]
                    let logSum = log(logits.enumerated().filter { $0.offset >= 2 }.map { exp(Double($0.element)) }.reduce(0, +))
                    for token in Int32(2) ..< Int32(vocabulary) {
                        let sequence = prefix + [token], p = logProbability + Double(logits[Int(token)]) - logSum
                        let normalized = p / pow((5 + Double(sequence.count)) / 6, alpha)
                        if token == 2 || sequence.count + 1 == limit {
                            if normalized > best.score + 1e-12 { best = (token == 2 ? prefix : sequence, normalized) }
                        } else {
                            visit(sequence, p)
                        }
                    }
                }
                visit([], 0)
                let search = BeamSearch(beam: 128, lengthPenalty: alpha, specials: Self.specials)
                XCTAssertEqual(search.search(limits: [limit], nextLogits: score)[0], best.tokens, "seed \(seed), α = \(alpha)")
            }
        }
    }

    /// Sentences of a batch stop on their own limits, and every scorer call gets rows of one length.
    func testSentencesOfABatchStopOnTheirOwnLimits() {
        let search = BeamSearch(beam: 3, lengthPenalty: 0.6, specials: Self.specials)
        var calls = 0
        let outputs = search.search(limits: [1, 2, 4, 7]) { prefixes in
            calls += 1
            XCTAssertEqual(prefixes.count, 12)
            XCTAssertEqual(Set(prefixes.map(\.count)).count, 1, "rows of unequal length")
            return prefixes.map { _ in [0, 0, -50, 1, 0.5, 0.2] }  // [EOS] never wins
        }
        XCTAssertEqual(outputs.map(\.count), [0, 1, 3, 6])
        XCTAssertEqual(calls, 6)
    }

    /// An untrained translator beam-decodes sources of every length up to past the position limit,
    /// with several beams, batch sizes and threads; outputs stay within their limits. (This is the
    /// shape of input that crashed the old search: hypotheses running to the last position.)
    func testUntrainedTranslatorDecodesEveryLength() {
        let words = ["[PAD]", "[SOS]", "[EOS]", "[UNK]"] + (0 ..< 12).map { "w\($0)" }
        let tokenizer = try! WordTokenizer(vocabulary: words, minimumFrequency: 1)
        let positions = 20
        let config = modelConfig(positions: positions, channels: 8, heads: 2, layers: 1, feedForward: 16, activation: .relu)
        let store = Seq2SeqModel.layout(config, sourceVocabulary: 16, targetVocabulary: 16).makeStore()
        Seq2SeqModel(config: config, sourceVocabulary: 16, targetVocabulary: 16, batch: 1, sourceLength: 1, targetLength: 1,
                     parameters: store).initialize(seed: 3)
        var random = TestRandom(seed: 4)
        let sources = (0 ... positions + 3).map { random.tokens($0, below: 12).map { $0 + 4 } }
        for eosBias: Float in [-30, 0] {  // never ending, and ending at random
            store.view("projection/bias").value[2] = eosBias
            for (beam, batch, threads) in [(1, 3, 1), (2, 8, 2), (3, 7, 1), (5, 10, 2), (8, 8, 1)] {
                let translator = Translator(config: config, parameters: store, sourceTokenizer: tokenizer,
                                            targetTokenizer: tokenizer, batch: batch, parallelism: Parallelism(threads: threads))
                let outputs = translator.translate(ids: sources, beam: beam)
                XCTAssertEqual(outputs.count, sources.count)
                for (source, output) in zip(sources, outputs) {
                    let limit = min(positions, 2 * min(source.count + 2, positions) + 10)
                    XCTAssertLessThanOrEqual(output.count, limit - 1, "beam \(beam), source length \(source.count)")
                    XCTAssertTrue(output.allSatisfy { (4 ..< 16).contains($0) || $0 == 3 }, "beam \(beam): \(output)")
                    if eosBias < -20 { XCTAssertEqual(output.count, limit - 1, "never ending: runs to the limit") }
                }
            }
        }
    }
}
