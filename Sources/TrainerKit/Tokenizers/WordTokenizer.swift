/// Word-level tokenizer, the seed course's: HuggingFace `tokenizers`' `WordLevel` model behind the
/// `Whitespace` pre-tokenizer. The text is split into words and runs of punctuation (the regex
/// `\w+|[^\w\s]+`, written out by hand), and each piece is one token. The vocabulary is the four
/// special tokens followed by the pieces seen at least `minimumFrequency` times in training, most
/// frequent first; any other piece encodes as [UNK].
///
/// Stored as: attribute `kind` = "word", attribute `min_frequency` (int64), dataset `vocab` (strings,
/// the first four being [PAD], [SOS], [EOS], [UNK]).
public struct WordTokenizer: Tokenizer {
    public let kind = "word"
    public let vocabulary: [String]
    public var specials: SpecialTokens? { Self.specialTokens }
    /// The least number of occurrences a word needed to enter the vocabulary (kept for the record).
    public let minimumFrequency: Int
    /// The id of every vocabulary entry (keyed by `Substring` so that pieces of the text are looked
    /// up without copying them).
    private let ids: [Substring: Int32]

    /// The special tokens, always the first four ids.
    public static let specialTokens = SpecialTokens(pad: 0, sos: 1, eos: 2, unk: 3)
    /// The first four vocabulary entries, in id order.
    static let specialNames = [SpecialTokens.names.pad, SpecialTokens.names.sos, SpecialTokens.names.eos, SpecialTokens.names.unk]

    /// A tokenizer over `vocabulary`, which must start with [PAD], [SOS], [EOS], [UNK] and hold no
    /// entry twice.
    /// - Throws: `TrainerError` saying which entry is wrong.
    public init(vocabulary: [String], minimumFrequency: Int) throws {
        try self.init(vocabulary: vocabulary, minimumFrequency: minimumFrequency, source: "word tokenizer")
    }

    /// Reads the tokenizer stored by `write(to:)`.
    public init(from group: HDF5Group) throws {
        let vocabulary = try group.dataset("vocab").readStrings()
        let minimumFrequency = group.hasAttribute("min_frequency") ? try group.intAttribute("min_frequency") : 1
        try self.init(vocabulary: vocabulary, minimumFrequency: minimumFrequency, source: "\(group.path)/vocab")
    }

    /// Validates `vocabulary` (errors start with `source`) and indexes it.
    private init(vocabulary: [String], minimumFrequency: Int, source: String) throws {
        let found = vocabulary.prefix(4)
        guard Array(found) == Self.specialNames else {
            throw TrainerError(
                "\(source): a word vocabulary starts with \(Self.specialNames.joined(separator: ", ")), found \(found.isEmpty ? "nothing" : found.joined(separator: ", ")); re-create it with `trainer prepare`")
        }
        var ids: [Substring: Int32] = [:]
        ids.reserveCapacity(vocabulary.count)
        for (id, word) in vocabulary.enumerated() {
            if let first = ids.updateValue(Int32(id), forKey: Substring(word)) {
                throw TrainerError("\(source): entry \(id) '\(word)' repeats entry \(first); every word must appear once")
            }
        }
        self.vocabulary = vocabulary
        self.minimumFrequency = minimumFrequency
        self.ids = ids
    }

    /// Learns the vocabulary of `texts`: the specials, then every piece that occurs at least
    /// `minimumFrequency` times, by descending count and, among equal counts, in increasing
    /// lexicographic order (`String`'s `<`, by Unicode scalars), so the result depends only on the
    /// counts. With `maximumSize`, the vocabulary (specials included) is cut to that many entries,
    /// never fewer than the four specials.
    /// - Complexity: O(n) in the length of the texts, plus O(w log w) for sorting the w words kept.
    public static func train(texts: some Sequence<String>, minimumFrequency: Int = 2, maximumSize: Int? = nil) -> WordTokenizer {
        var counts: [Substring: Int] = [:]
        for text in texts {
            forEachWord(in: text) { word in
                if let index = counts.index(forKey: word) {
                    counts.values[index] += 1
                } else {
                    counts[Substring(String(word))] = 1  // a copy, so the key does not keep `text` alive
                }
            }
        }
        let threshold = max(1, minimumFrequency)
        var words = counts.filter { $0.value >= threshold }.map { (word: $0.key, count: $0.value) }
        words.sort { $0.count != $1.count ? $0.count > $1.count : $0.word < $1.word }
        var vocabulary = specialNames + words.map { String($0.word) }
        if let maximumSize { vocabulary = Array(vocabulary.prefix(max(specialNames.count, maximumSize))) }
        // Pieces never contain both brackets and letters, so no word can be "[PAD]" etc.: cannot throw.
        do {
            return try WordTokenizer(vocabulary: vocabulary, minimumFrequency: threshold)
        } catch {
            preconditionFailure("a trained word vocabulary is valid: \(error)")
        }
    }

    /// The id of one piece, [UNK]'s if it is not in the vocabulary.
    @inline(__always)
    public func id(of word: Substring) -> Int32 {
        ids[word] ?? Self.specialTokens.unk
    }

    /// Appends the ids of `text`'s pieces to `tokens` (no special tokens added).
    public func encode(_ text: String, into tokens: inout [Int32]) {
        Self.forEachWord(in: text) { tokens.append(id(of: $0)) }
    }

    public func encode(_ text: String) -> [Int32] {
        var tokens: [Int32] = []
        encode(text, into: &tokens)
        return tokens
    }

    /// The text of `ids`, made readable. [PAD], [SOS], [EOS] and [UNK] are left out, as are ids
    /// outside the vocabulary. Pieces are joined with one space, except that
    /// - no space goes before a piece starting with `, . ! ? ; : ) ] } '` or `’`,
    /// - no space goes after a piece ending with `( [ {`,
    /// - an apostrophe piece (`'` or `’`) between two words joins both (`don ' t` → `don't`,
    ///   `l ' uomo` → `l'uomo`).
    ///
    /// The spaces of the original text are not stored, so this is not an exact inverse of `encode`:
    /// `Hello , world !` → `Hello, world!`, but also `' quoted '` → `'quoted'` and `students ' books` →
    /// `students'books`.
    public func decode(_ ids: [Int32]) -> String {
        var text = ""
        var previousIsWord = false       // the last piece written ends with a word character
        var joinNextWord = false         // the last piece was an apostrophe right after a word
        var joinNext = false             // the last piece ended with an opening bracket
        for id in ids {
            guard id >= 4, Int(id) < vocabulary.count else { continue }
            let piece = vocabulary[Int(id)]
            guard let first = piece.unicodeScalars.first, let last = piece.unicodeScalars.last else { continue }
            let startsWord = Self.scalarClass(first) == .word
            let attaches = joinNext || (joinNextWord && startsWord) || Self.closing.contains(first)
            if !text.isEmpty && !attaches { text += " " }
            text += piece
            let isApostrophe = piece == "'" || piece == "’"
            joinNextWord = isApostrophe && previousIsWord
            joinNext = Self.opening.contains(last)
            previousIsWord = Self.scalarClass(last) == .word
        }
        return text
    }

    /// Scalars that attach to the piece before them in `decode`.
    static let closing: Set<Unicode.Scalar> = [",", ".", "!", "?", ";", ":", ")", "]", "}", "'", "’"]
    /// Scalars that attach to the piece after them in `decode`.
    static let opening: Set<Unicode.Scalar> = ["(", "[", "{"]

    public func write(to group: HDF5Group) throws {
        try group.setAttribute("kind", kind)
        try group.setAttribute("min_frequency", Int64(minimumFrequency))
        try group.writeStrings("vocab", vocabulary)
    }
}

// MARK: - Pre-tokenization

extension WordTokenizer {
    /// The three kinds of scalar of the `Whitespace` pre-tokenizer.
    enum ScalarClass {
        /// `\w`: a letter (Unicode `Alphabetic`), a mark, a decimal digit, a connector such as `_`.
        case word
        /// `\s`: Unicode `White_Space`.
        case space
        /// Anything else: punctuation, symbols, emoji, control characters.
        case other
    }

    /// The class of `scalar` (Rust's `regex` definitions of `\w` and `\s`, which HuggingFace uses).
    @inline(__always)
    static func scalarClass(_ scalar: Unicode.Scalar) -> ScalarClass {
        let value = scalar.value
        if value < 0x80 {
            switch value {
            case 0x30 ... 0x39, 0x41 ... 0x5A, 0x61 ... 0x7A, 0x5F: return .word  // 0-9 A-Z a-z _
            case 0x09 ... 0x0D, 0x20: return .space
            default: return .other
            }
        }
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        if properties.isAlphabetic || properties.isJoinControl { return .word }
        switch properties.generalCategory {
        case .decimalNumber, .nonspacingMark, .spacingMark, .enclosingMark, .connectorPunctuation: return .word
        default: return .other
        }
    }

    /// Calls `body` with each piece of `text`, in order: the maximal runs of word scalars and the
    /// maximal runs of other non-space scalars (`\w+|[^\w\s]+`). Whitespace only separates.
    /// - Complexity: O(n) in the number of scalars; the pieces are slices of `text`, not copies.
    static func forEachWord(in text: String, _ body: (Substring) -> Void) {
        let scalars = text.unicodeScalars
        var index = scalars.startIndex
        var start = index
        var current = ScalarClass.space  // the class of the run that began at `start`
        while index < scalars.endIndex {
            let scalarClass = self.scalarClass(scalars[index])
            if scalarClass != current {
                if current != .space { body(Substring(scalars[start ..< index])) }
                start = index
                current = scalarClass
            }
            scalars.formIndex(after: &index)
        }
        if current != .space { body(Substring(scalars[start ..< index])) }
    }

    /// The pieces of `text` that `encode` looks up: words and runs of punctuation, in order.
    public static func preTokenize(_ text: String) -> [Substring] {
        var pieces: [Substring] = []
        forEachWord(in: text) { pieces.append($0) }
        return pieces
    }
}
