import XCTest
import TrainerKit

/// The key/value cache (`DecodingCache`): a step over the cache gives the logits of a forward pass
/// over the whole prefix, for the GPT and the encoder–decoder, and generation with the cache gives
/// the same tokens as without it (sampling, greedy and beam-search translation).
///
/// Logits are compared with a tolerance (the two paths add in different orders); token sequences
/// are compared exactly on models whose logits are spread out (random weights well above their
/// initial scale), so that rounding cannot swap two choices.
final class DecodingCacheTests: XCTestCase {
    /// A GPT with spread logits: 2 layers, 4 heads, 32 channels, `positions` positions.
    func makeGPT(positions: Int = 12, batch: Int = 3) -> GPTModel {
        let config = modelConfig(positions: positions, channels: 32, heads: 4, layers: 2, feedForward: 64,
                                 tieEmbeddings: false)
        let model = GPTModel(config: config, vocabulary: 13, limits: ActivationLimits(batch: batch, time: positions))
        model.initialize(seed: 3)
        var random = TestRandom(seed: 3)
        for i in 0 ..< model.parameters.count { model.parameters.values[i] += random.uniform(0.4) }
        return model
    }

    func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// Prefill a prompt, then step token by token: at every position, each row's logits equal those
    /// of a forward pass over its whole prefix (3 rows at once, each with its own tokens).
    func testGPTStepsMatchTheFullForwardPass() {
        let model = makeGPT()
        let V = model.vocabulary, rows = 3, T = 12, prompt = 4
        var random = TestRandom(seed: 9)
        let sequences = (0 ..< rows).map { _ in (0 ..< T).map { _ in Int32(random.next() % 13) } }
        // Reference: the last position's logits of a forward pass over each prefix.
        func reference(_ row: Int, _ length: Int) -> [Float] {
            model.forward(tokens: Array(sequences[row].prefix(length)), targets: nil, batch: 1, time: length,
                          parallelism: .serial)
            return (0 ..< V).map { model.logits[(length - 1) * V + $0] }
        }
        let cache = model.makeCache(rows: rows)
        model.prefill(tokens: sequences.flatMap { $0.prefix(prompt) }, batch: rows, time: prompt, cache: cache,
                      parallelism: .serial)
        XCTAssertEqual(cache.length, prompt)
        var worst: Float = 0, scale: Float = 0
        var cached = (0 ..< rows).map { r in (0 ..< V).map { model.logits[(r * prompt + prompt - 1) * V + $0] } }
        for length in prompt ... T {
            if length > prompt {
                model.step(tokens: sequences.map { $0[length - 1] }, cache: cache, parallelism: Parallelism(threads: 2))
                cached = (0 ..< rows).map { r in (0 ..< V).map { model.logits[r * V + $0] } }
            }
            for r in 0 ..< rows {
                let expected = reference(r, length)
                worst = max(worst, largestDifference(cached[r], expected))
                scale = max(scale, expected.map(abs).max()!)
            }
        }
        XCTAssertEqual(cache.length, T)
        XCTAssertGreaterThan(scale, 1, "logits too small to compare")
        XCTAssertLessThan(worst, 1e-5 * scale, "cached steps differ from the full forward pass")
    }

    /// Rows of the cache follow their parents after `reorder`: a step then continues each row from
    /// its parent's prefix (a permutation with a row repeated).
    func testReorderedRowsContinueTheirParents() {
        let model = makeGPT()
        let V = model.vocabulary
        let prompts: [[Int32]] = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], next: [Int32] = [10, 11, 12]
        let parents = [2, 0, 2]
        let cache = model.makeCache(rows: 3)
        model.prefill(tokens: prompts.flatMap { $0 }, batch: 3, time: 3, cache: cache, parallelism: .serial)
        cache.reorder(parents: parents)
        model.step(tokens: next, cache: cache, parallelism: .serial)
        let stepped = (0 ..< 3).map { r in (0 ..< V).map { model.logits[r * V + $0] } }
        for r in 0 ..< 3 {
            let prefix = prompts[parents[r]] + [next[r]]
            model.forward(tokens: prefix, targets: nil, batch: 1, time: 4, parallelism: .serial)
            let expected = (0 ..< V).map { model.logits[3 * V + $0] }
            XCTAssertLessThan(largestDifference(stepped[r], expected), 1e-4, "row \(r) after reorder")
        }
    }

    /// Sampling with and without the cache gives the same tokens, greedy and tempered, past the
    /// model's positions (where the window slides) and with the context shift.
    func testSamplingWithTheCacheGivesTheSameTokens() {
        let model = makeGPT(batch: 1)
        for (temperature, shift) in [(0.0, false), (0.8, false), (1.0, true), (0.0, true)] {
            var options = SamplingOptions(tokens: 40, temperature: temperature, topK: 0, seed: 11, contextShift: shift)
            let cached = Sampler.generate(model: model, prompt: [1, 2], options: options, parallelism: .serial)
            options.useCache = false
            let uncached = Sampler.generate(model: model, prompt: [1, 2], options: options, parallelism: .serial)
            XCTAssertEqual(cached, uncached, "temperature \(temperature), context shift \(shift)")
            XCTAssertEqual(cached.count, 40)
        }
    }

    /// The context shift: once the 12 positions are full, the model sees the newer half and grows it
    /// again, checked against greedy decoding computed here from forward passes on those contexts.
    func testContextShiftKeepsTheNewerHalf() {
        let model = makeGPT(batch: 1)
        let V = model.vocabulary
        var sequence: [Int32] = [5], start = 0, expected: [Int32] = []
        for _ in 0 ..< 30 {
            if sequence.count - start > 12 { start = sequence.count - 6 }
            let context = Array(sequence[start...])
            model.forward(tokens: context, targets: nil, batch: 1, time: context.count, parallelism: .serial)
            let logits = (0 ..< V).map { model.logits[(context.count - 1) * V + $0] }
            let token = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
            sequence.append(token)
            expected.append(token)
        }
        let options = SamplingOptions(tokens: 30, temperature: 0, topK: 0, contextShift: true)
        XCTAssertEqual(Sampler.generate(model: model, prompt: [5], options: options, parallelism: .serial), expected)
    }

    /// An encoder–decoder with spread logits over a word vocabulary of 16.
    func makeTranslator(batch: Int, positions: Int = 16) -> (Translator, ModelConfig) {
        let words = ["[PAD]", "[SOS]", "[EOS]", "[UNK]"] + (0 ..< 12).map { "w\($0)" }
        let tokenizer = try! WordTokenizer(vocabulary: words, minimumFrequency: 1)
        let config = modelConfig(positions: positions, channels: 32, heads: 4, layers: 2, feedForward: 64)
        let store = Seq2SeqModel.layout(config, sourceVocabulary: 16, targetVocabulary: 16).makeStore()
        let translator = Translator(config: config, parameters: store, sourceTokenizer: tokenizer, targetTokenizer: tokenizer,
                                    batch: batch, parallelism: .serial)
        translator.model.initialize(seed: 4)
        var random = TestRandom(seed: 4)
        for i in 0 ..< store.count { store.values[i] += random.uniform(0.3) }
        return (translator, config)
    }

    /// Decoder steps over padded sources of different lengths give the logits of `decode` over the
    /// whole prefixes.
    func testSeq2SeqStepsMatchDecodingWholePrefixes() {
        let (translator, _) = makeTranslator(batch: 3)
        let model = translator.model, V = 16, S = 7, T = 6
        let sources: [[Int32]] = [[1, 4, 5, 6, 7, 8, 2], [1, 9, 10, 2, 0, 0, 0], [1, 11, 2, 0, 0, 0, 0]]
        let mask = sources.flatMap { $0.map { $0 == 0 ? UInt8(0) : 1 } }
        let targets: [[Int32]] = [[1, 4, 9, 6, 5, 12], [1, 15, 14, 13, 4, 4], [1, 7, 7, 8, 9, 10]]
        model.encode(source: sources.flatMap { $0 }, mask: mask, batch: 3, length: S, parallelism: .serial)
        let cache = model.makeCache(rows: 3)
        model.beginDecoding(batch: 3, sourceLength: S, cache: cache, parallelism: .serial)
        var worst: Float = 0, scale: Float = 0
        for t in 0 ..< T {
            model.step(tokens: targets.map { $0[t] }, sourceLength: S, cache: cache, parallelism: Parallelism(threads: 2))
            let stepped = (0 ..< 3).map { r in (0 ..< V).map { model.logits[r * V + $0] } }
            let length = t + 1
            model.decode(target: targets.flatMap { $0.prefix(length) }, mask: [UInt8](repeating: 1, count: 3 * length),
                         labels: nil, batch: 3, length: length, sourceLength: S, parallelism: .serial)
            for r in 0 ..< 3 {
                let expected = (0 ..< V).map { model.logits[(r * length + t) * V + $0] }
                worst = max(worst, largestDifference(stepped[r], expected))
                scale = max(scale, expected.map(abs).max()!)
            }
        }
        XCTAssertGreaterThan(scale, 1, "logits too small to compare")
        XCTAssertLessThan(worst, 1e-5 * scale, "decoder steps differ from decoding whole prefixes")
    }

    /// Greedy and beam-search translations are the same with and without the cache, for sources of
    /// every length up to past the position limit, several to a batch.
    func testTranslationsAreTheSameWithAndWithoutTheCache() {
        let (translator, _) = makeTranslator(batch: 12)
        var random = TestRandom(seed: 8)
        let sources = (1 ... 18).map { length in (0 ..< length).map { _ in Int32(4 + random.next() % 12) } }
        var outputs = 0
        for beam in [1, 4] {
            translator.useCache = true
            let cached = translator.translate(ids: sources, beam: beam)
            translator.useCache = false
            let uncached = translator.translate(ids: sources, beam: beam)
            XCTAssertEqual(cached, uncached, "beam \(beam)")
            outputs += cached.map(\.count).reduce(0, +)
        }
        XCTAssertGreaterThan(outputs, 20, "the outputs are too short to compare")
    }
}
