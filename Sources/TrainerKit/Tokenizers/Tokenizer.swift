/// Turns text into token ids and back. Every tokenizer stores itself in an HDF5 group (attribute
/// `kind`, dataset `vocab` of strings, more per kind), so `sample`/`translate` need only the
/// checkpoint.
public protocol Tokenizer: Sendable {
    /// "char", "word" or "bpe".
    var kind: String { get }
    /// The token strings; a token's id is its index.
    var vocabulary: [String] { get }
    /// The special tokens (nil for the character tokenizer, which has none).
    var specials: SpecialTokens? { get }
    /// Token ids of `text` (no special tokens added).
    func encode(_ text: String) -> [Int32]
    /// The text of `ids`; special tokens are skipped.
    func decode(_ ids: [Int32]) -> String
    /// One label per id, as a person reads the token (for attention maps): its vocabulary entry,
    /// except where the entry is not plain text (byte-level BPE's byte symbols).
    func readableTokens(_ ids: [Int32]) -> [String]
    /// Writes the tokenizer into `group`.
    func write(to group: HDF5Group) throws
}

extension Tokenizer {
    /// Number of tokens.
    public var count: Int { vocabulary.count }

    /// The vocabulary entries of `ids` ("?" for an id outside the vocabulary).
    public func readableTokens(_ ids: [Int32]) -> [String] {
        ids.map { $0 >= 0 && Int($0) < vocabulary.count ? vocabulary[Int($0)] : "?" }
    }

    /// Whether `other` tokenizes exactly like this one (same kind and vocabulary).
    public func matches(_ other: Tokenizer) -> Bool {
        kind == other.kind && vocabulary == other.vocabulary
    }
}

/// Reading any tokenizer back from a file.
public enum Tokenizers {
    /// The tokenizer stored in `group`.
    public static func read(from group: HDF5Group) throws -> Tokenizer {
        let kind = try group.stringAttribute("kind")
        switch kind {
        case "char": return try CharTokenizer(from: group)
        case "word": return try WordTokenizer(from: group)
        case "bpe": return try BPETokenizer(from: group)
        default: throw TrainerError("\(group.path): unknown tokenizer kind '\(kind)' (expected char, word or bpe)")
        }
    }
}
