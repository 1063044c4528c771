import XCTest
import TrainerKit

/// `Sampler.generate` against references computed from the same model's logits: greedy decoding,
/// the top-k set, the tempered softmax, seeds, `emit`, and the sliding context window.
///
/// Every reference reads the logits of the model's own forward pass on the context the sampler
/// sees, so no assertion depends on how BLAS rounds; where a choice between tokens decides the
/// outcome, the test first asserts that their logits differ by a clear margin.
final class SamplerTests: XCTestCase {
    static let vocabulary = 11, positions = 6

    /// A small untied GPT whose next-token choice depends on the whole context (random weights
    /// well above nanoGPT's 0.02) and whose logits are spread over about ±10 (the LM head scaled
    /// up), so that the most likely tokens stand apart.
    func makeModel(time: Int = SamplerTests.positions, sharing parameters: ParameterStore? = nil) -> GPTModel {
        let config = modelConfig(positions: Self.positions, channels: 16, heads: 2, layers: 2, feedForward: 32,
                                 tieEmbeddings: false)
        let model = GPTModel(config: config, vocabulary: Self.vocabulary, limits: ActivationLimits(batch: 1, time: time),
                             parameters: parameters)
        guard parameters == nil else { return model }
        model.initialize(seed: 5)
        var random = TestRandom(seed: 5)
        for i in 0 ..< model.parameters.count { model.parameters.values[i] += random.uniform(0.5) }
        let head = model.parameters.entry("lm_head/weight")!
        for i in head.offset ..< head.offset + head.count { model.parameters.values[i] *= 4 }
        return model
    }

    /// The logits of the token after `context` (its last `window` tokens, as the sampler feeds them).
    func nextLogits(_ model: GPTModel, _ context: [Int32], window: Int = SamplerTests.positions) -> [Double] {
        let input = Array(context.suffix(window))
        model.forward(tokens: input, targets: nil, batch: 1, time: input.count, parallelism: .serial)
        let V = model.vocabulary
        return (0 ..< V).map { Double(model.logits[(input.count - 1) * V + $0]) }
    }

    /// Greedy continuation computed here: at each step the argmax of the model's logits over the
    /// last `window` tokens; also the smallest gap between the best and the second-best logit.
    func greedyReference(_ model: GPTModel, prompt: [Int32], tokens: Int, window: Int = SamplerTests.positions)
        -> (tokens: [Int32], smallestMargin: Double) {
        var sequence = prompt, generated: [Int32] = [], smallestMargin = Double.infinity
        for _ in 0 ..< tokens {
            let logits = nextLogits(model, sequence, window: window)
            let order = logits.indices.sorted { logits[$0] > logits[$1] }
            smallestMargin = min(smallestMargin, logits[order[0]] - logits[order[1]])
            sequence.append(Int32(order[0]))
            generated.append(Int32(order[0]))
        }
        return (generated, smallestMargin)
    }

    func generate(_ model: GPTModel, prompt: [Int32], tokens: Int, temperature: Double, topK: Int, seed: UInt64) -> [Int32] {
        Sampler.generate(model: model, prompt: prompt,
                         options: SamplingOptions(tokens: tokens, temperature: temperature, topK: topK, seed: seed),
                         parallelism: .serial)
    }

    func testTopKOneIsTheArgmaxAtEveryStep() {
        let model = makeModel()
        let prompt: [Int32] = [3, 1, 4]
        let reference = greedyReference(model, prompt: prompt, tokens: 12)
        XCTAssertGreaterThan(reference.smallestMargin, 0.05, "the argmax must stand apart at every step")
        XCTAssertGreaterThan(Set(reference.tokens).count, 2, "a greedy path through several tokens: \(reference.tokens)")
        for temperature in [0.8, 20] {
            for seed: UInt64 in [1, 2, 1337] {
                XCTAssertEqual(generate(model, prompt: prompt, tokens: 12, temperature: temperature, topK: 1, seed: seed),
                               reference.tokens, "top-k 1, temperature \(temperature), seed \(seed)")
            }
        }
    }

    /// Temperature 0 is greedy decoding: the argmax at every step, whatever the seed and top-k.
    func testTemperatureZeroIsGreedy() {
        let model = makeModel()
        let prompt: [Int32] = [2, 7]
        let reference = greedyReference(model, prompt: prompt, tokens: 12)
        for (topK, seed) in [(0, UInt64(1)), (200, 2), (5, 1337)] {
            XCTAssertEqual(generate(model, prompt: prompt, tokens: 12, temperature: 0, topK: topK, seed: seed), reference.tokens,
                           "temperature 0, top-k \(topK), seed \(seed)")
        }
    }

    func testTopKNeverLeavesTheKMostLikelyTokens() {
        let model = makeModel()
        let k = 3, prompt: [Int32] = [2]
        /// Over 5 seeds × 15 steps at a high temperature: how many tokens were outside the k
        /// most likely of their step (ties at the k-th value count as inside, as documented), and
        /// which ranks were drawn.
        func draw(topK: Int) -> (outside: Int, ranks: Set<Int>) {
            var outside = 0, ranks = Set<Int>()
            for seed: UInt64 in 1 ... 5 {
                let tokens = generate(model, prompt: prompt, tokens: 15, temperature: 50, topK: topK, seed: seed)
                for (step, token) in tokens.enumerated() {
                    let logits = nextLogits(model, prompt + tokens[..<step])
                    let kth = logits.sorted(by: >)[k - 1]
                    if logits[Int(token)] < kth { outside += 1 }
                    ranks.insert(logits.filter { $0 > logits[Int(token)] }.count)
                }
            }
            return (outside, ranks)
        }
        let limited = draw(topK: k)
        XCTAssertEqual(limited.outside, 0, "top-k \(k) drew a token outside the \(k) most likely")
        XCTAssertEqual(limited.ranks, [0, 1, 2], "at temperature 50 every one of the \(k) most likely is drawn")
        // The check can fail: without top-k the same draws leave the three most likely.
        XCTAssertGreaterThan(draw(topK: 0).outside, 0)
    }

    func testTheSameSeedRepeatsAndAnotherSeedDiffers() {
        let model = makeModel()
        let prompt: [Int32] = [7, 7]
        let first = generate(model, prompt: prompt, tokens: 20, temperature: 50, topK: 0, seed: 7)
        XCTAssertEqual(generate(model, prompt: prompt, tokens: 20, temperature: 50, topK: 0, seed: 7), first)
        XCTAssertNotEqual(generate(model, prompt: prompt, tokens: 20, temperature: 50, topK: 0, seed: 8), first)
        XCTAssertNotEqual(generate(model, prompt: prompt, tokens: 20, temperature: 50, topK: 0, seed: (1 << 32) + 7), first,
                          "the seed's high bits count too")
    }

    /// One step drawn with 3,000 seeds: the frequencies match softmax(logits / T) over the k most
    /// likely tokens, computed here from the model's logits.
    func testOneStepFrequenciesFollowTheTemperedSoftmaxOverTheTopK() {
        let model = makeModel()
        let prompt: [Int32] = [4, 0, 9], temperature = 3.0, k = 5, draws = 3000
        let logits = nextLogits(model, prompt)
        let sorted = logits.sorted(by: >)
        XCTAssertGreaterThan(sorted[k - 1] - sorted[k], 0.05, "the top-\(k) set must be clear-cut")
        let weights = logits.map { $0 >= sorted[k - 1] ? exp(($0 - sorted[0]) / temperature) : 0 }
        let expected = weights.map { $0 / weights.reduce(0, +) }
        XCTAssertGreaterThanOrEqual(expected.filter { $0 > 0.1 }.count, 3, "a spread distribution: \(expected)")
        var counts = [Int](repeating: 0, count: Self.vocabulary)
        for seed in 0 ..< UInt64(draws) {
            counts[Int(generate(model, prompt: prompt, tokens: 1, temperature: temperature, topK: k, seed: seed)[0])] += 1
        }
        // Binomial standard deviation ≤ √(0.25 / 3000) ≈ 0.009: 0.035 is about four of them.
        for token in 0 ..< Self.vocabulary {
            let frequency = Double(counts[token]) / Double(draws)
            XCTAssertEqual(frequency, expected[token], accuracy: expected[token] == 0 ? 0 : 0.035,
                           "token \(token): drawn \(counts[token]) of \(draws) times, softmax gives \(expected[token])")
        }
    }

    func testLowTemperatureConcentratesOnTheArgmax() {
        let model = makeModel()
        let prompt: [Int32] = [5, 10]
        let reference = greedyReference(model, prompt: prompt, tokens: 10)
        // A margin of 0.05 at temperature 0.001 leaves every other token below e^-50 of the best.
        XCTAssertGreaterThan(reference.smallestMargin, 0.05)
        var differentAtTemperatureTwo = 0
        for seed: UInt64 in 1 ... 10 {
            XCTAssertEqual(generate(model, prompt: prompt, tokens: 10, temperature: 0.001, topK: 0, seed: seed), reference.tokens,
                           "temperature 0.001, seed \(seed)")
            if generate(model, prompt: prompt, tokens: 10, temperature: 2, topK: 0, seed: seed) != reference.tokens {
                differentAtTemperatureTwo += 1
            }
        }
        XCTAssertGreaterThan(differentAtTemperatureTwo, 0, "at temperature 2 the same seeds leave the greedy path")
    }

    func testEmitReceivesExactlyTheGeneratedTokensInOrder() {
        let model = makeModel()
        var emitted: [Int32] = []
        let options = SamplingOptions(tokens: 9, temperature: 10, topK: 0, seed: 3)
        let generated = Sampler.generate(model: model, prompt: [1, 2], options: options, parallelism: .serial) {
            emitted.append($0)
        }
        XCTAssertEqual(generated.count, 9)
        XCTAssertEqual(emitted, generated)
        XCTAssertTrue(generated.allSatisfy { (0 ..< Int32(Self.vocabulary)).contains($0) }, "\(generated)")

        var calls = 0
        let none = Sampler.generate(model: model, prompt: [1, 2], options: SamplingOptions(tokens: 0), parallelism: .serial) {
            _ in calls += 1
        }
        XCTAssertEqual(none, [])
        XCTAssertEqual(calls, 0)
    }

    func testAnEmptyPromptStartsFromTokenZero() {
        let model = makeModel()
        let options = SamplingOptions(tokens: 8, temperature: 10, topK: 0, seed: 11)
        let fromEmpty = Sampler.generate(model: model, prompt: [], options: options, parallelism: .serial)
        XCTAssertEqual(fromEmpty, Sampler.generate(model: model, prompt: [0], options: options, parallelism: .serial))
        XCTAssertNotEqual(fromEmpty, Sampler.generate(model: model, prompt: [1], options: options, parallelism: .serial),
                          "the starting token matters, so the comparison above can fail")
    }

    /// A prompt longer than the model's positions, continued past them: each step sees the last
    /// `positions` tokens, or the last `limits.time` when the model was allocated for fewer.
    func testTheContextWindowSlidesOverTheLastTokens() {
        let model = makeModel()
        let prompt: [Int32] = [9, 3, 3, 8, 0, 2, 6, 1]  // 8 tokens > 6 positions
        let reference = greedyReference(model, prompt: prompt, tokens: 10, window: Self.positions)
        XCTAssertGreaterThan(reference.smallestMargin, 0.05)
        XCTAssertEqual(generate(model, prompt: prompt, tokens: 10, temperature: 1, topK: 1, seed: 1), reference.tokens)

        // A model allocated for 4 tokens (same weights) looks at the last 4.
        let short = makeModel(time: 4, sharing: model.parameters)
        let shortReference = greedyReference(model, prompt: prompt, tokens: 10, window: 4)
        XCTAssertGreaterThan(shortReference.smallestMargin, 0.05)
        XCTAssertEqual(generate(short, prompt: prompt, tokens: 10, temperature: 1, topK: 1, seed: 1), shortReference.tokens)
        // The two windows lead to different continuations, so each comparison above can tell a
        // wrong window from the right one.
        XCTAssertNotEqual(reference.tokens, shortReference.tokens)
        XCTAssertNotEqual(reference.tokens, greedyReference(model, prompt: prompt, tokens: 10, window: 5).tokens)
    }
}
