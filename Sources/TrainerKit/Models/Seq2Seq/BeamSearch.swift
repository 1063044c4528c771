import Foundation

/// Beam search over any next-token scorer, with the stopping rule of fairseq and Hugging Face
/// (`BeamSearchScorer`):
///
/// - Each step extends every live hypothesis of a sentence and ranks all extensions together.
///   An extension that ends the sentence ([EOS]) is kept as *finished* only if it ranks among the
///   `beam` best; the `beam` best extensions that do not end it become the next live hypotheses.
/// - A sentence keeps its `beam` best finished hypotheses, ranked by the length-normalised score
///   (GNMT's penalty ((5 + length)/6)^α). It stops when that list is full and no live hypothesis
///   can still beat its worst entry: log-probabilities only fall as a hypothesis grows, so the best
///   a live one can reach is its log-probability over the largest penalty of the lengths it may
///   still end at.
/// - At the output limit, the live hypotheses compete with the finished ones.
///
/// Rows are laid out sentence-major (row `s·beam + b`), and every call to the scorer gets all
/// `sentences × beam` rows at the same length, so a batched model can decode them in one pass.
/// Rows without a hypothesis (sentences already done, or fewer live hypotheses than `beam`) carry
/// [SOS] and padding; their scores are ignored.
public struct BeamSearch: Sendable {
    /// Hypotheses kept per sentence (≥ 1).
    public var beam: Int
    /// The length-penalty exponent α: 0 ranks by total log-probability, larger favours longer outputs.
    public var lengthPenalty: Double
    /// [SOS] starts every hypothesis, [EOS] ends one; [PAD] and [SOS] are never produced.
    public var specials: SpecialTokens

    public init(beam: Int, lengthPenalty: Double, specials: SpecialTokens) {
        precondition(beam >= 1, "beam must be at least 1")
        self.beam = beam
        self.lengthPenalty = lengthPenalty
        self.specials = specials
    }

    /// One hypothesis: its tokens ([SOS] first) and their total log-probability.
    struct Hypothesis {
        var tokens: [Int32]
        var logProbability: Double
        /// Output length for the penalty: every token after [SOS], [EOS] included.
        var length: Int { tokens.count - 1 }
    }

    /// GNMT's length penalty ((5 + length)/6)^α.
    func penalty(_ length: Int) -> Double { pow((5 + Double(length)) / 6, lengthPenalty) }

    func score(_ h: Hypothesis) -> Double { h.logProbability / penalty(h.length) }

    /// The `beam` best finished hypotheses of one sentence, by length-normalised score.
    struct Finished {
        var entries: [(hypothesis: Hypothesis, score: Double)] = []

        var worst: Double { entries.map(\.score).min() ?? -.infinity }

        /// Adds `h` if there is room or it beats the worst entry (which it then replaces).
        mutating func add(_ h: Hypothesis, score: Double, capacity: Int) {
            if entries.count < capacity {
                entries.append((h, score))
            } else if let index = entries.indices.min(by: { entries[$0].score < entries[$1].score }),
                      score > entries[index].score {
                entries[index] = (h, score)
            }
        }

        /// The best entry (the first added among equals).
        var best: Hypothesis? {
            var best: (hypothesis: Hypothesis, score: Double)?
            for entry in entries where best == nil || entry.score > best!.score { best = entry }
            return best?.hypothesis
        }
    }

    /// Searches `limits.count` sentences together; `limits[s]` is the most tokens a hypothesis of
    /// sentence s may hold, [SOS] included (so outputs have at most `limits[s] − 1` tokens, [EOS]
    /// included). `nextLogits` gets `limits.count × beam` prefixes of equal length and returns the
    /// next token's logits (unnormalised log-probabilities) for each. Returns each sentence's best
    /// output without [SOS], [EOS] and padding.
    public func search(limits: [Int], nextLogits: (_ prefixes: [[Int32]]) -> [[Float]]) -> [[Int32]] {
        let sentences = limits.count
        var live: [[Hypothesis]] = limits.map { _ in [Hypothesis(tokens: [specials.sos], logProbability: 0)] }
        var finished = [Finished](repeating: Finished(), count: sentences)
        var done = limits.map { $0 <= 1 }
        var length = 1  // tokens in every live hypothesis, [SOS] included
        while done.contains(false) {
            let filler = [specials.sos] + [Int32](repeating: specials.pad, count: length - 1)
            var prefixes: [[Int32]] = []
            prefixes.reserveCapacity(sentences * beam)
            for s in 0 ..< sentences {
                for b in 0 ..< beam { prefixes.append(!done[s] && b < live[s].count ? live[s][b].tokens : filler) }
            }
            let logits = nextLogits(prefixes)
            precondition(logits.count == prefixes.count, "nextLogits returned \(logits.count) rows for \(prefixes.count) prefixes")
            length += 1
            for s in 0 ..< sentences where !done[s] {
                live[s] = step(live[s], logits: logits[(s * beam) ..< (s * beam + live[s].count)], finished: &finished[s])
                if length >= limits[s] || live[s].isEmpty {
                    // The output limit: live hypotheses compete with the finished ones.
                    for h in live[s] { finished[s].add(h, score: score(h), capacity: beam) }
                    done[s] = true
                } else if finished[s].entries.count == beam {
                    let bestLive = live[s].map(\.logProbability).max()!
                    let largestPenalty = max(penalty(length), penalty(limits[s] - 1))
                    done[s] = finished[s].worst >= bestLive / largestPenalty
                }
            }
        }
        return finished.map { clean($0.best?.tokens ?? [specials.sos]) }
    }

    /// Extends one sentence's live hypotheses by one token: adds the finished extensions that rank
    /// among the `beam` best to `finished`, and returns the `beam` best unfinished ones.
    func step(_ live: [Hypothesis], logits: ArraySlice<[Float]>, finished: inout Finished) -> [Hypothesis] {
        // Each hypothesis's `beam + 1` best tokens hold the sentence's `beam` best extensions and
        // enough unfinished ones ([EOS] is at most one of them).
        struct Candidate { var logProbability: Double, hypothesis: Int, token: Int32 }
        var candidates: [Candidate] = []
        for (index, (hypothesis, row)) in zip(live, logits).enumerated() {
            for (token, logProbability) in bestTokens(row, count: beam + 1) {
                candidates.append(Candidate(logProbability: hypothesis.logProbability + logProbability, hypothesis: index,
                                            token: token))
            }
        }
        // Best first; ties in a fixed order (earlier hypothesis, then smaller token id).
        candidates.sort {
            ($0.logProbability, -$0.hypothesis, -Int($0.token)) > ($1.logProbability, -$1.hypothesis, -Int($1.token))
        }
        var next: [Hypothesis] = []
        for (rank, candidate) in candidates.enumerated() where next.count < beam {
            let h = Hypothesis(tokens: live[candidate.hypothesis].tokens + [candidate.token],
                               logProbability: candidate.logProbability)
            if candidate.token == specials.eos {
                if rank < beam { finished.add(h, score: score(h), capacity: beam) }
            } else {
                next.append(h)
            }
        }
        return next
    }

    /// The `count` most likely tokens of a row of logits and their log-probabilities, most likely
    /// first (smaller id first among equals). [PAD] and [SOS] are never candidates, and neither
    /// are tokens whose logit is NaN or −∞.
    func bestTokens(_ row: [Float], count: Int) -> [(Int32, Double)] {
        var largest = -Float.infinity
        for (token, logit) in row.enumerated() where allowed(token) && logit > largest { largest = logit }
        guard largest > -.infinity, largest.isFinite else { return [] }
        var sum = 0.0
        for (token, logit) in row.enumerated() where allowed(token) && logit > -.infinity { sum += exp(Double(logit - largest)) }
        let logSum = Double(largest) + log(sum)
        var best: [(Int32, Double)] = []  // sorted, at most `count`
        for (token, logit) in row.enumerated() where allowed(token) && logit > -.infinity {
            let value = Double(logit) - logSum
            guard best.count < count || value > best[best.count - 1].1 else { continue }
            let position = best.firstIndex { value > $0.1 } ?? best.count
            best.insert((Int32(token), value), at: position)
            if best.count > count { best.removeLast() }
        }
        return best
    }

    @inline(__always)
    func allowed(_ token: Int) -> Bool { token != Int(specials.pad) && token != Int(specials.sos) }

    /// Drops [SOS], everything from [EOS] on, and padding.
    func clean(_ tokens: [Int32]) -> [Int32] {
        var out: [Int32] = []
        for token in tokens.dropFirst() {
            if token == specials.eos { break }
            if token != specials.pad && token != specials.sos { out.append(token) }
        }
        return out
    }
}
