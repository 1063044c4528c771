/// Characters of a text that a tokenizer's vocabulary lacks, skipped and counted (`eval --text`,
/// `prepare --tokenizer-from`), and the note that reports them.
public enum UnknownCharacters {
    /// Counts of skipped characters, most frequent first (then by character).
    public static func ranked(_ counts: [String: Int]) -> [(character: String, count: Int)] {
        counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// `; skipped N characters outside the checkpoint's vocabulary (2 × "é", ...)`, or "" if none.
    public static func note(_ unknown: [(character: String, count: Int)]) -> String {
        guard !unknown.isEmpty else { return "" }
        let skipped = unknown.reduce(0) { $0 + $1.count }
        let listed = unknown.prefix(8).map { "\($0.count) × \($0.character.debugDescription)" }.joined(separator: ", ")
        return "; skipped \(skipped) characters outside the checkpoint's vocabulary (\(listed)\(unknown.count > 8 ? ", ..." : ""))"
    }
}
