/// Turns text into token ids and back. Every tokenizer stores itself under `/tokenizer` of a
/// dataset or checkpoint (attribute `kind`, dataset `vocab` of strings, more per kind), so
/// `sample`/`translate` need only the checkpoint.
public protocol Tokenizer: Sendable {
    /// "char", "word" or "bpe".
    var kind: String { get }
    /// The token strings; a token's id is its index.
    var vocabulary: [String] { get }
    /// Token ids of `text`.
    func encode(_ text: String) -> [Int32]
    /// The text of `ids`.
    func decode(_ ids: [Int32]) -> String
    /// Writes the tokenizer into `group` (normally `/tokenizer`).
    func write(to group: HDF5Group) throws
}

extension Tokenizer {
    /// Number of tokens.
    public var count: Int { vocabulary.count }

    /// Whether `other` tokenizes exactly like this one (same kind and vocabulary).
    public func matches(_ other: Tokenizer) -> Bool {
        kind == other.kind && vocabulary == other.vocabulary
    }
}

/// Reading any tokenizer back from a file.
public enum Tokenizers {
    /// The tokenizer stored in `group` (`/tokenizer` of a dataset or checkpoint).
    public static func read(from group: HDF5Group) throws -> Tokenizer {
        let kind = try group.stringAttribute("kind")
        switch kind {
        case "char": return try CharTokenizer(from: group)
        default: throw TrainerError("\(group.path): unknown tokenizer kind '\(kind)' (expected char, word or bpe)")
        }
    }
}
