import Foundation

/// `trainer eval --pairs FILE.tsv` (or two aligned files): a translation checkpoint scored on any
/// sentence pairs, tokenized with the checkpoint's own tokenizers: the loss under teacher forcing
/// (label-smoothed as in training, and the plain cross-entropy, whose exponential is the
/// perplexity), and BLEU, chrF, CER and WER of its translations against the references.
///
/// Sentences longer than the model's positions are cut to fit ([SOS] source [EOS] and [SOS] target
/// each at most `positions` tokens), as `translate` cuts them; `truncatedLines` lists them.
public struct PairEvaluation: Sendable {
    /// The loss over every target token ([EOS] included), summed.
    public var loss = CrossEntropy.Total()
    /// The translations, in the order of the pairs.
    public var hypotheses: [String] = []
    /// ("bleu", …), ("chrf", …), ("cer", …), ("wer", …) as `TranslationMetrics.scores`.
    public var scores: [(String, Double)] = []
    /// Line numbers (`lines`) of the pairs whose source or reference was cut to the positions.
    public var truncatedLines: [Int] = []

    /// Scores `pairs` (source, reference; `lines` their line numbers, for `truncatedLines`) with
    /// `translator`'s model: the loss in batches of up to `translator.batch` pairs, then the
    /// translations with `beam` (1: greedy).
    public static func run(pairs: [(source: String, reference: String)], lines: [Int], translator: Translator, beam: Int,
                           lengthPenalty: Double, parallelism: Parallelism) -> PairEvaluation {
        precondition(lines.count == pairs.count, "one line number per pair")
        let positions = translator.model.config.positions
        let sourceSpecials = translator.sourceTokenizer.specials!, targetSpecials = translator.targetTokenizer.specials!
        var result = PairEvaluation()
        var sources: [[Int32]] = [], targets: [[Int32]] = []
        for (index, pair) in pairs.enumerated() {
            let source = translator.sourceTokenizer.encode(pair.source), target = translator.targetTokenizer.encode(pair.reference)
            if source.count + 2 > positions || target.count + 1 > positions { result.truncatedLines.append(lines[index]) }
            sources.append(Array(source.prefix(positions - 2)))
            targets.append(Array(target.prefix(positions - 1)))
        }
        var start = 0
        while start < pairs.count {
            let end = min(pairs.count, start + translator.batch)
            let batch = Seq2SeqBatch(Array(zip(sources[start ..< end], targets[start ..< end])), source: sourceSpecials,
                                     target: targetSpecials)
            result.loss = result.loss + batch.forward(translator.model, dropout: nil, parallelism: parallelism)
            start = end
        }
        result.hypotheses = translator.translateInLengthOrder(ids: sources, beam: beam, lengthPenalty: lengthPenalty)
            .map { translator.targetTokenizer.decode($0) }
        result.scores = TranslationMetrics.scores(hypotheses: result.hypotheses, references: pairs.map(\.reference))
        return result
    }
}
