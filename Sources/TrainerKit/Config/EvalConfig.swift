/// When and how much to evaluate.
public struct EvalConfig: Codable, Sendable, Equatable {
    /// Steps between evaluations; 0 means only at the end of the run.
    public var interval = 250
    /// Micro-batches per split per evaluation (a translation model evaluates its whole validation
    /// split, and this many batches of the training split).
    public var batches = 50
    /// Translation: the beam size used for BLEU at each evaluation (1: greedy decoding).
    public var beam = 1
    /// Translation: the length-penalty exponent α of beam search, ((5 + length)/6)^α (GNMT).
    public var lengthPenalty = 0.6
    /// Translation: how many validation pairs (the first of the split) are translated for BLEU,
    /// chrF, CER and WER at each evaluation during training; 0: all. The loss always covers the
    /// whole split, and `trainer eval` translates every pair. (No evaluation translates at step 0,
    /// before any training.)
    public var decodePairs = 0

    enum CodingKeys: String, CodingKey, CaseIterable {
        case interval, batches, beam
        case lengthPenalty = "length_penalty"
        case decodePairs = "decode_pairs"
    }

    /// The default evaluation settings.
    public init() {}

}
