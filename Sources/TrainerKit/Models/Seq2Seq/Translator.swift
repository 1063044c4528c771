import Foundation

/// Greedy and beam-search decoding with the encoder–decoder, batched (the search itself is
/// `BeamSearch`; greedy decoding is its beam of one).
///
/// Each step runs the decoder for one new position per row over a key/value cache
/// (`DecodingCache`), reordered as beam search moves hypotheses between rows; with `useCache`
/// false it runs the decoder over every whole prefix instead (the same outputs, slower).
public final class Translator {
    public let model: Seq2SeqModel
    public let sourceTokenizer: Tokenizer, targetTokenizer: Tokenizer
    let specials: SpecialTokens
    let sourceSpecials: SpecialTokens
    /// Sentences decoded together (times the beam for beam search).
    public let batch: Int
    let parallelism: Parallelism
    /// Decode step by step over a key/value cache (true) or over whole prefixes.
    public var useCache = true
    private lazy var cache = model.makeCache(rows: batch)

    /// A translator sharing `parameters` (for example the training model's), decoding up to
    /// `batch` rows at a time (sentences × beam).
    public init(config: ModelConfig, parameters: ParameterStore, sourceTokenizer: Tokenizer, targetTokenizer: Tokenizer,
                batch: Int, parallelism: Parallelism) {
        model = Seq2SeqModel(config: config, sourceVocabulary: sourceTokenizer.count, targetVocabulary: targetTokenizer.count,
                             batch: batch, sourceLength: config.positions, targetLength: config.positions, parameters: parameters)
        self.sourceTokenizer = sourceTokenizer
        self.targetTokenizer = targetTokenizer
        specials = targetTokenizer.specials!
        sourceSpecials = sourceTokenizer.specials!
        self.batch = batch
        self.parallelism = parallelism
    }

    /// Source ids → the encoder input [SOS] ids [EOS], cut to the model's positions.
    func sourceSequence(_ ids: [Int32]) -> [Int32] {
        [sourceSpecials.sos] + ids.prefix(model.config.positions - 2) + [sourceSpecials.eos]
    }

    /// Translates sentences (text in, text out).
    public func translate(_ sentences: [String], beam: Int = 1, lengthPenalty: Double = 0.6) -> [String] {
        translate(ids: sentences.map { sourceTokenizer.encode($0) }, beam: beam, lengthPenalty: lengthPenalty)
            .map { targetTokenizer.decode($0) }
    }

    /// Translates token sequences (without [SOS]/[EOS]); returns target ids without specials.
    /// Beam 1 is greedy decoding (the most likely token at each step).
    public func translate(ids: [[Int32]], beam: Int = 1, lengthPenalty: Double = 0.6) -> [[Int32]] {
        // Greedy decoding is beam search with one hypothesis ranked by plain log-probability.
        let search = BeamSearch(beam: max(1, beam), lengthPenalty: beam <= 1 ? 0 : lengthPenalty, specials: specials)
        let perCall = max(1, batch / search.beam)
        var results: [[Int32]] = []
        var start = 0
        while start < ids.count {
            let group = Array(ids[start ..< min(ids.count, start + perCall)]).map(sourceSequence)
            let S = encode(group, copies: search.beam)
            let limits = group.map { outputLimit($0.count) }
            if useCache {
                model.beginDecoding(batch: group.count * search.beam, sourceLength: S, cache: cache, parallelism: parallelism)
                var held: [[Int32]] = []  // the prefix each row of the cache holds
                results += search.search(limits: limits) { prefixes in
                    defer { held = prefixes }
                    return nextLogits(prefixes, held: held, beam: search.beam, sourceLength: S)
                }
            } else {
                results += search.search(limits: limits) { lastLogits($0, sourceLength: S) }
            }
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

    /// The most tokens an output for a source of `length` tokens may hold, [SOS] included.
    private func outputLimit(_ length: Int) -> Int { min(model.config.positions, 2 * length + 10) }

    /// One cached decoding step: row r's prefix extends the prefix `held` by some row of the same
    /// sentence (rows `s·beam ..< (s+1)·beam`), whose cache row it takes over; then every row
    /// decodes its last token. A row with no such parent (a finished sentence's filler, whose
    /// scores beam search ignores) keeps its own cache row.
    private func nextLogits(_ prefixes: [[Int32]], held: [[Int32]], beam: Int, sourceLength: Int) -> [[Float]] {
        let rows = prefixes.count, V = model.targetVocabulary
        if prefixes[0].count == cache.length + 1 && !held.isEmpty {
            let parents = prefixes.enumerated().map { r, prefix in
                let sentence = (r / beam) * beam
                return (sentence ..< sentence + beam).first { held[$0].elementsEqual(prefix.dropLast()) } ?? r
            }
            cache.reorder(parents: parents)
        } else {
            precondition(prefixes[0].count == 1, "cached decoding must start from [SOS]")
        }
        model.step(tokens: prefixes.map { $0[$0.count - 1] }, sourceLength: sourceLength, cache: cache, parallelism: parallelism)
        return (0 ..< rows).map { r in Array(UnsafeBufferPointer(start: model.logits.pointer + r * V, count: V)) }
    }

    /// Runs the decoder on `prefixes` (equal lengths) and returns each row's last-position logits.
    private func lastLogits(_ prefixes: [[Int32]], sourceLength: Int) -> [[Float]] {
        let rows = prefixes.count, T = prefixes[0].count, V = model.targetVocabulary
        precondition(prefixes.allSatisfy { $0.count == T }, "decoder rows of unequal length")
        let tokens = prefixes.flatMap { $0 }, mask = [UInt8](repeating: 1, count: rows * T)
        model.decode(target: tokens, mask: mask, labels: nil, batch: rows, length: T, sourceLength: sourceLength,
                     parallelism: parallelism)
        return (0 ..< rows).map { r in
            Array(UnsafeBufferPointer(start: model.logits.pointer + (r * T + T - 1) * V, count: V))
        }
    }
}

extension Translator {
    /// `translate(ids:)` with the sentences decoded in order of length (shortest first; equal
    /// lengths by their tokens, then by position) and the results put back in input order:
    /// sentences of similar lengths share a batch, so there is less padding and fewer rows idle
    /// while the longest of a batch finishes (two to three times as fast on the toy task). The
    /// batches depend only on the set of sentences, not on their order. Padding is masked, so a
    /// sentence's translation does not depend on its batch either (up to rounding; identical on
    /// the toy task's validation split).
    public func translateInLengthOrder(ids: [[Int32]], beam: Int = 1, lengthPenalty: Double = 0.6) -> [[Int32]] {
        let order = ids.indices.sorted { a, b in
            if ids[a].count != ids[b].count { return ids[a].count < ids[b].count }
            if ids[a] != ids[b] { return ids[a].lexicographicallyPrecedes(ids[b]) }
            return a < b
        }
        let sorted = translate(ids: order.map { ids[$0] }, beam: beam, lengthPenalty: lengthPenalty)
        var results = [[Int32]](repeating: [], count: ids.count)
        for (k, index) in order.enumerated() { results[index] = sorted[k] }
        return results
    }
}
