/// The ids of the special tokens of the translation tokenizers (word and BPE).
public struct SpecialTokens: Sendable, Equatable {
    /// Padding (ignored by the loss and masked in attention).
    public var pad: Int32
    /// Start of sequence (the decoder's first input).
    public var sos: Int32
    /// End of sequence.
    public var eos: Int32
    /// Unknown word (word-level tokenizers; BPE never needs it).
    public var unk: Int32

    public init(pad: Int32, sos: Int32, eos: Int32, unk: Int32) {
        self.pad = pad
        self.sos = sos
        self.eos = eos
        self.unk = unk
    }

    /// The token strings, as stored in the vocabularies.
    public static let names = (pad: "[PAD]", sos: "[SOS]", eos: "[EOS]", unk: "[UNK]")
}
