import Foundation

/// Options of `trainer sample`.
public struct SamplingOptions: Sendable {
    /// Tokens to generate.
    public var tokens: Int = 500
    /// Softmax temperature (≥ 0); lower is more conservative, and 0 is greedy (the most likely
    /// token every time, as `topK` 1).
    public var temperature: Double = 0.8
    /// Keep only the k most likely tokens (0: all).
    public var topK: Int = 200
    /// Seed of the sampling stream.
    public var seed: UInt64 = 1337

    public init(tokens: Int = 500, temperature: Double = 0.8, topK: Int = 200, seed: UInt64 = 1337) {
        self.tokens = tokens
        self.temperature = temperature
        self.topK = topK
        self.seed = seed
    }
}

/// Autoregressive generation from a GPT: each new token is drawn from the softmax of the last
/// position's logits (temperature, top-k), with random numbers from a Philox stream of the seed.
public enum Sampler {
    /// Continues `prompt` by `options.tokens` tokens; `emit` receives each new token as it is drawn.
    public static func generate(
        model: GPTModel, prompt: [Int32], options: SamplingOptions, parallelism: Parallelism,
        emit: (Int32) -> Void = { _ in }
    ) -> [Int32] {
        let V = model.vocabulary, window = min(model.config.positions, model.limits.time)
        let stream = RandomStream(seed: options.seed, 0x5341_4D50, 0, 0)  // "SAMP"
        var sequence = prompt.isEmpty ? [0] : prompt
        var generated: [Int32] = []
        var probabilities = [Double](repeating: 0, count: V)
        for i in 0 ..< options.tokens {
            let context = Array(sequence.suffix(window))
            model.forward(tokens: context, targets: nil, batch: 1, time: context.count, parallelism: parallelism)
            let logits = model.logits.pointer + (context.count - 1) * V
            if options.temperature == 0 {
                // Greedy: the first of the largest logits.
                let token = Int32((0 ..< V).max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!)
                sequence.append(token)
                generated.append(token)
                emit(token)
                continue
            }
            // Temperature, then top-k (ties at the k-th value kept), then softmax in double precision.
            var cutoff = -Double.infinity
            if options.topK > 0 && options.topK < V {
                cutoff = (0 ..< V).map { Double(logits[$0]) }.sorted(by: >)[options.topK - 1]
            }
            var largest = -Double.infinity
            for j in 0 ..< V where Double(logits[j]) >= cutoff { largest = max(largest, Double(logits[j])) }
            var sum = 0.0
            for j in 0 ..< V {
                let logit = Double(logits[j])
                probabilities[j] = logit >= cutoff ? exp((logit - largest) / max(options.temperature, 1e-6)) : 0
                sum += probabilities[j]
            }
            var u = stream.uniformDouble(i) * sum
            var token = V - 1
            for j in 0 ..< V {
                u -= probabilities[j]
                if u < 0 && probabilities[j] > 0 {
                    token = j
                    break
                }
            }
            sequence.append(Int32(token))
            generated.append(Int32(token))
            emit(Int32(token))
        }
        return generated
    }
}
