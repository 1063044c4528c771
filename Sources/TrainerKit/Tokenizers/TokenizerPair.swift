/// The tokenizers of a translation model: source and target, or one shared by both sides.
///
/// In a dataset's or checkpoint's `/tokenizer` group: attribute `shared` ("true"/"false"); when
/// shared, the tokenizer itself in the group; otherwise attribute `kind` and the groups `source/`
/// and `target/`.
public struct TokenizerPair: Sendable {
    public let source: Tokenizer
    public let target: Tokenizer
    /// One vocabulary for both sides (`prepare --shared-vocab`).
    public let shared: Bool

    public init(source: Tokenizer, target: Tokenizer, shared: Bool) {
        self.source = source
        self.target = target
        self.shared = shared
    }

    /// Whether `group` holds a pair (a translation model's) rather than one tokenizer.
    public static func isPair(_ group: HDF5Group) -> Bool {
        group.exists("source") || (try? group.stringAttribute("shared")) == "true"
    }

    /// Reads the pair stored in `group`.
    public init(from group: HDF5Group) throws {
        shared = (try? group.stringAttribute("shared")) == "true"
        if shared {
            source = try Tokenizers.read(from: group)
            target = source
        } else {
            source = try Tokenizers.read(from: group.group("source"))
            target = try Tokenizers.read(from: group.group("target"))
        }
    }

    /// Writes the pair into `group`.
    public func write(to group: HDF5Group) throws {
        try group.setAttribute("shared", shared ? "true" : "false")
        if shared {
            try source.write(to: group)
        } else {
            try group.setAttribute("kind", source.kind)
            try source.write(to: group.createGroup("source"))
            try target.write(to: group.createGroup("target"))
        }
    }

    /// Whether `other` tokenizes both sides exactly like this pair.
    public func matches(_ other: TokenizerPair) -> Bool { source.matches(other.source) && target.matches(other.target) }

    /// "word, 130 source + 160 target tokens", or "word, 200 tokens shared by source and target".
    public var summary: String {
        shared ? "\(source.kind), \(source.count) tokens shared by source and target"
               : "\(source.kind), \(source.count) source + \(target.count) target tokens"
    }
}
