import Foundation

/// Greedy and beam-search decoding with the encoder–decoder, batched.
///
/// Each step runs the decoder over the whole prefix (no key/value cache: simple, and cheap for
/// sentence-length outputs) and reads the last position's logits.
public final class Translator {
    public let model: Seq2SeqModel
    public let sourceTokenizer: Tokenizer, targetTokenizer: Tokenizer
    let specials: SpecialTokens
    let sourceSpecials: SpecialTokens
    /// Sentences decoded together (times the beam for beam search).
    public let batch: Int
    let parallelism: Parallelism

    /// A translator sharing `parameters` (for example the training model's), decoding up to
    /// `batch` rows at a time (sentences × beam).
    public init(shape: Seq2SeqShape, parameters: ParameterStore, sourceTokenizer: Tokenizer, targetTokenizer: Tokenizer,
                batch: Int, parallelism: Parallelism) {
        model = Seq2SeqModel(shape: shape, batch: batch, sourceLength: shape.positions, targetLength: shape.positions,
                             parameters: parameters)
        self.sourceTokenizer = sourceTokenizer
        self.targetTokenizer = targetTokenizer
        specials = targetTokenizer.specials!
        sourceSpecials = sourceTokenizer.specials!
        self.batch = batch
        self.parallelism = parallelism
    }

    /// Source ids → the encoder input [SOS] ids [EOS], cut to the model's positions.
    func sourceSequence(_ ids: [Int32]) -> [Int32] {
        [sourceSpecials.sos] + ids.prefix(model.shape.positions - 2) + [sourceSpecials.eos]
    }

    /// Translates sentences (text in, text out).
    public func translate(_ sentences: [String], beam: Int = 1, lengthPenalty: Double = 0.6) -> [String] {
        translate(ids: sentences.map { sourceTokenizer.encode($0) }, beam: beam, lengthPenalty: lengthPenalty)
            .map { targetTokenizer.decode($0) }
    }

    /// Translates token sequences (without [SOS]/[EOS]); returns target ids without specials.
    public func translate(ids: [[Int32]], beam: Int = 1, lengthPenalty: Double = 0.6) -> [[Int32]] {
        let perCall = max(1, batch / max(1, beam))
        var results: [[Int32]] = []
        var start = 0
        while start < ids.count {
            let group = Array(ids[start ..< min(ids.count, start + perCall)]).map(sourceSequence)
            results += beam <= 1 ? greedy(group) : beamSearch(group, beam: beam, lengthPenalty: lengthPenalty)
            start += perCall
        }
        return results
    }

    /// Encodes `sources` (each [SOS] … [EOS]), each repeated `copies` times, padded to one length.
    private func encode(_ sources: [[Int32]], copies: Int) -> Int {
        let S = sources.map(\.count).max() ?? 1
        var tokens: [Int32] = [], mask: [UInt8] = []
        for source in sources {
            for _ in 0 ..< copies {
                tokens += source + [Int32](repeating: sourceSpecials.pad, count: S - source.count)
                mask += [UInt8](repeating: 1, count: source.count) + [UInt8](repeating: 0, count: S - source.count)
            }
        }
        model.encode(source: tokens, mask: mask, batch: sources.count * copies, length: S, parallelism: parallelism)
        return S
    }

    /// The longest output for a source of `length` tokens.
    private func outputLimit(_ length: Int) -> Int { min(model.shape.positions, 2 * length + 10) }

    /// Runs the decoder on `prefixes` (equal lengths) and returns each row's last-position logits.
    private func lastLogits(_ prefixes: [[Int32]], sourceLength: Int) -> [[Float]] {
        let rows = prefixes.count, T = prefixes[0].count, V = model.shape.targetVocabulary
        let tokens = prefixes.flatMap { $0 }, mask = [UInt8](repeating: 1, count: rows * T)
        model.decode(target: tokens, mask: mask, labels: nil, batch: rows, length: T, sourceLength: sourceLength,
                     parallelism: parallelism)
        return (0 ..< rows).map { r in
            Array(UnsafeBufferPointer(start: model.logits.pointer + (r * T + T - 1) * V, count: V))
        }
    }

    private func greedy(_ sources: [[Int32]]) -> [[Int32]] {
        let S = encode(sources, copies: 1)
        var prefixes = sources.map { _ in [specials.sos] }
        var done = [Bool](repeating: false, count: sources.count)
        let limit = sources.map { outputLimit($0.count) }.max()!
        while prefixes[0].count < limit && done.contains(false) {
            let logits = lastLogits(prefixes, sourceLength: S)
            for r in prefixes.indices {
                let next = done[r] ? specials.pad : Int32(logits[r].indices.max { logits[r][$0] < logits[r][$1] }!)
                prefixes[r].append(next)
                if next == specials.eos || prefixes[r].count >= outputLimit(sources[r].count) { done[r] = true }
            }
        }
        return prefixes.map { clean($0) }
    }

    /// Drops [SOS], everything from [EOS] on, and padding.
    private func clean(_ sequence: [Int32]) -> [Int32] {
        var out: [Int32] = []
        for token in sequence.dropFirst() {
            if token == specials.eos { break }
            if token != specials.pad && token != specials.sos { out.append(token) }
        }
        return out
    }

    private struct Hypothesis {
        var tokens: [Int32]
        var logProbability: Double
    }

    /// GNMT's length penalty ((5 + length)/6)^α; α = 0 ranks by total log-probability.
    private func normalized(_ h: Hypothesis, _ alpha: Double) -> Double {
        h.logProbability / pow((5 + Double(h.tokens.count - 1)) / 6, alpha)
    }

    private func beamSearch(_ sources: [[Int32]], beam: Int, lengthPenalty alpha: Double) -> [[Int32]] {
        let S = encode(sources, copies: beam)
        // Start with one live hypothesis per sentence (the others at −∞ so that the first step
        // does not pick the same token `beam` times).
        var live: [[Hypothesis]] = sources.map { _ in
            (0 ..< beam).map { Hypothesis(tokens: [specials.sos], logProbability: $0 == 0 ? 0 : -.infinity) }
        }
        var finished: [[Hypothesis]] = sources.map { _ in [] }
        let limit = sources.map { outputLimit($0.count) }.max()!
        var length = 1
        func active(_ s: Int) -> Bool { finished[s].count < beam && live[s].contains { $0.logProbability > -.infinity } }
        while length < limit && sources.indices.contains(where: active) {
            let prefixes = live.flatMap { $0 }.map(\.tokens)
            let logits = lastLogits(prefixes, sourceLength: S)
            for s in sources.indices where active(s) {
                var candidates: [Hypothesis] = []
                for b in 0 ..< beam {
                    let hypothesis = live[s][b]
                    guard hypothesis.logProbability > -.infinity else { continue }
                    let row = logits[s * beam + b]
                    let largest = row.max()!
                    let logSum = log(row.reduce(0.0) { $0 + exp(Double($1 - largest)) }) + Double(largest)
                    // The `beam` best continuations of this hypothesis suffice.
                    let best = row.indices.sorted { row[$0] > row[$1] }.prefix(beam)
                    for token in best {
                        candidates.append(Hypothesis(tokens: hypothesis.tokens + [Int32(token)],
                                                     logProbability: hypothesis.logProbability + Double(row[token]) - logSum))
                    }
                }
                candidates.sort { $0.logProbability > $1.logProbability }
                var next: [Hypothesis] = []
                for candidate in candidates where next.count < beam {
                    if candidate.tokens.last == specials.eos || candidate.tokens.count >= outputLimit(sources[s].count) {
                        if finished[s].count < beam { finished[s].append(candidate) }
                    } else {
                        next.append(candidate)
                    }
                }
                while next.count < beam {
                    next.append(Hypothesis(tokens: next.first?.tokens ?? live[s][0].tokens + [specials.pad], logProbability: -.infinity))
                }
                live[s] = next
            }
            // Keep every row the same length (padding hypotheses of finished sentences).
            length += 1
            for s in live.indices {
                for b in live[s].indices where live[s][b].tokens.count < length {
                    live[s][b].tokens += [Int32](repeating: specials.pad, count: length - live[s][b].tokens.count)
                }
            }
        }
        return sources.indices.map { s in
            let pool = finished[s].isEmpty ? live[s].filter { $0.logProbability > -.infinity } : finished[s]
            let best = pool.max { normalized($0, alpha) < normalized($1, alpha) }
            return clean(best?.tokens ?? [specials.sos])
        }
    }
}
