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
    /// Decode with a key/value cache (the same tokens, faster); false: a forward pass per token.
    public var useCache = true
    /// When the context is full: false slides it by one token every token (nanoGPT: always the last
    /// `positions` tokens, a forward pass per token); true drops its older half, so that the cache
    /// serves the next `positions/2` tokens (the model then sees between half and all of the window).
    public var contextShift = false

    public init(tokens: Int = 500, temperature: Double = 0.8, topK: Int = 200, seed: UInt64 = 1337, useCache: Bool = true,
                contextShift: Bool = false) {
        self.tokens = tokens
        self.temperature = temperature
        self.topK = topK
        self.seed = seed
        self.useCache = useCache
        self.contextShift = contextShift
    }
}

/// Autoregressive generation from a GPT: each new token is drawn from the softmax of the last
/// position's logits (temperature, top-k), with random numbers from a Philox stream of the seed.
///
/// The context holds at most `positions` tokens: the last ones (nanoGPT's crop), or with
/// `contextShift` the newer half once it is full. A key/value cache (`DecodingCache`) makes each
/// new token one step over the cached positions while the context only grows; when it moves, the
/// learned positions move with it and a forward pass over the new context refills the cache.
/// Without `useCache` every token runs that forward pass; both give the same tokens.
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
        let cache = options.useCache ? model.makeCache() : nil
        var start = 0, cachedStart = -1  // the context is sequence[start...]; the cache's, sequence[cachedStart...]
        for i in 0 ..< options.tokens {
            if sequence.count - start > window {
                start = sequence.count - (options.contextShift ? max(1, window / 2) : window)
            }
            let context = Array(sequence[start...])
            let logits: UnsafePointer<Float>
            if let cache, cachedStart == start, cache.length == context.count - 1 {
                model.step(tokens: [context[context.count - 1]], cache: cache, parallelism: parallelism)
                logits = model.logits.readPointer
            } else {
                if let cache {
                    model.prefill(tokens: context, batch: 1, time: context.count, cache: cache, parallelism: parallelism)
                    cachedStart = start
                } else {
                    model.forward(tokens: context, targets: nil, batch: 1, time: context.count, parallelism: parallelism)
                }
                logits = model.logits.readPointer + (context.count - 1) * V
            }
            let token = choose(logits, vocabulary: V, options: options, draw: stream.uniformDouble(i),
                               probabilities: &probabilities)
            sequence.append(token)
            generated.append(token)
            emit(token)
        }
        return generated
    }

    /// The next token from one row of logits: greedy at temperature 0 (the first of the largest
    /// logits), else temperature, top-k (ties at the k-th value kept) and a softmax in double
    /// precision, sampled with the uniform number `draw`.
    static func choose(_ logits: UnsafePointer<Float>, vocabulary V: Int, options: SamplingOptions, draw: Double,
                       probabilities: inout [Double]) -> Int32 {
        if options.temperature == 0 {
            return Int32((0 ..< V).max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!)
        }
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
        var u = draw * sum
        for j in 0 ..< V {
            u -= probabilities[j]
            if u < 0 && probabilities[j] > 0 { return Int32(j) }
        }
        return Int32(V - 1)
    }
}
