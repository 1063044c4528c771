import Foundation

/// Byte-level byte-pair encoding, GPT-2's, trained on the corpus.
///
/// Text is taken as UTF-8 bytes, so every string can be encoded and [UNK] is never needed (the four
/// special tokens still hold ids 0–3 for the translation model). Each byte is written as one visible
/// character (GPT-2's `bytes_to_unicode`: a space is `Ġ`, a newline `Ċ`), and a token's string is the
/// concatenation of its bytes' characters. Ids: 0–3 the specials, 4–259 the 256 bytes in byte order,
/// then the tokens made by the merges.
///
/// Text is first split into pieces (GPT-2's pattern, see `preTokenize`), so merges never cross a
/// word boundary; each piece is then encoded on its own by applying the merges lowest rank first.
/// `decode(encode(s)) == s` for every string.
///
/// Stored as: attribute `kind` = "bpe", dataset `vocab` (the token strings, by id) and dataset
/// `merges` (one "left right" string per merge in rank order, like GPT-2's merges.txt).
public struct BPETokenizer: Tokenizer {
    public let kind = "bpe"
    public let vocabulary: [String]
    public var specials: SpecialTokens? { Self.specialTokens }
    /// The merges in rank order (rank 0 first).
    public let merges: [Merge]

    /// One merge rule: the adjacent tokens `left`, `right` become `result`.
    public struct Merge: Equatable, Sendable {
        public var left: Int32
        public var right: Int32
        public var result: Int32

        public init(left: Int32, right: Int32, result: Int32) {
            self.left = left
            self.right = right
            self.result = result
        }
    }

    /// The bytes of every token, by id (empty for the specials).
    private let tokenBytes: [[UInt8]]
    /// Rank and result of every merge, keyed by `pairKey(left, right)`.
    private let mergeRanks: [UInt64: (rank: Int32, result: Int32)]
    /// Encodings of pieces seen before.
    private let cache = PieceCache()

    /// The special tokens, always the first four ids.
    public static let specialTokens = SpecialTokens(pad: 0, sos: 1, eos: 2, unk: 3)
    /// The first four vocabulary entries, in id order.
    static let specialNames = [SpecialTokens.names.pad, SpecialTokens.names.sos, SpecialTokens.names.eos, SpecialTokens.names.unk]
    /// The id of byte 0; byte b is `firstByteID + b`.
    static let firstByteID: Int32 = 4
    /// The id of the first merged token.
    static let firstMergeID: Int32 = 260

    // MARK: Building

    /// A tokenizer from its parts, already known to be consistent.
    private init(tokenBytes: [[UInt8]], merges: [Merge]) {
        self.vocabulary = Self.specialNames + tokenBytes.dropFirst(Self.specialNames.count).map(Self.symbols(of:))
        self.tokenBytes = tokenBytes
        self.merges = merges
        var mergeRanks: [UInt64: (rank: Int32, result: Int32)] = [:]
        mergeRanks.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            mergeRanks[Self.pairKey(merge.left, merge.right)] = (Int32(rank), merge.result)
        }
        self.mergeRanks = mergeRanks
    }

    /// A tokenizer from a vocabulary and merge lines in the stored format (`vocab` and `merges`).
    /// - Throws: `TrainerError` naming the first inconsistency.
    public init(vocabulary: [String], merges: [String]) throws {
        try self.init(vocabulary: vocabulary, merges: merges, source: "bpe tokenizer")
    }

    /// Reads the tokenizer stored by `write(to:)`.
    public init(from group: HDF5Group) throws {
        let vocabulary = try group.dataset("vocab").readStrings()
        let merges = try group.dataset("merges").readStrings()
        try self.init(vocabulary: vocabulary, merges: merges, source: group.path)
    }

    /// Validates `vocabulary` and `merges` (errors start with `source`): the specials, then the 256
    /// byte symbols in byte order, then distinct tokens of byte symbols; each merge names two tokens
    /// that exist by then (bytes or results of earlier merges) and whose concatenation is in the
    /// vocabulary; every token after the bytes is the result of some merge.
    private init(vocabulary: [String], merges lines: [String], source: String) throws {
        let hint = "re-create the tokenizer with `trainer prepare`"
        let found = Array(vocabulary.prefix(Self.specialNames.count))
        guard found == Self.specialNames else {
            throw TrainerError("\(source): a bpe vocab starts with \(Self.specialNames.joined(separator: ", ")), found \(found.isEmpty ? "nothing" : found.joined(separator: ", ")); \(hint)")
        }
        guard vocabulary.count >= Int(Self.firstMergeID) else {
            throw TrainerError("\(source): vocab has \(vocabulary.count) entries, fewer than the 4 specials and 256 bytes; \(hint)")
        }
        for byte in 0 ..< 256 where vocabulary[Int(Self.firstByteID) + byte] != Self.byteSymbols[byte] {
            throw TrainerError("\(source): vocab entry \(Int(Self.firstByteID) + byte) is '\(vocabulary[Int(Self.firstByteID) + byte])', expected the symbol of byte \(byte), '\(Self.byteSymbols[byte])'; \(hint)")
        }
        var tokenBytes: [[UInt8]] = Array(repeating: [], count: Self.specialNames.count)
        var ids: [ExactString: Int32] = [:]
        for (id, token) in vocabulary.enumerated() {
            if id >= Int(Self.firstByteID) {
                guard let bytes = Self.bytes(ofSymbols: token), !bytes.isEmpty else {
                    throw TrainerError("\(source): vocab entry \(id) '\(token)' is not a string of byte symbols; \(hint)")
                }
                tokenBytes.append(bytes)
            }
            if let first = ids.updateValue(Int32(id), forKey: ExactString(token)) {
                throw TrainerError("\(source): vocab entry \(id) '\(token)' repeats entry \(first); \(hint)")
            }
        }
        var produced = [Bool](repeating: false, count: vocabulary.count)
        for id in Int(Self.firstByteID) ..< Int(Self.firstMergeID) { produced[id] = true }
        var seen = Set<UInt64>()
        var merges: [Merge] = []
        merges.reserveCapacity(lines.count)
        for (rank, line) in lines.enumerated() {
            func failure(_ problem: String) -> TrainerError {
                TrainerError("\(source): merge \(rank) '\(line)' \(problem); \(hint)")
            }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else { throw failure("is not two tokens separated by one space") }
            var pair: [Int32] = []
            for part in parts {
                guard let id = ids[ExactString(part)], id >= Self.firstByteID else {
                    throw failure("names '\(part)', which is not a token of the vocabulary")
                }
                guard produced[Int(id)] else { throw failure("uses '\(part)' before any merge makes it") }
                pair.append(id)
            }
            guard let result = ids[ExactString(parts[0] + parts[1])], result >= Self.firstMergeID else {
                throw failure("makes '\(parts[0] + parts[1])', which is not a merged token of the vocabulary")
            }
            guard seen.insert(Self.pairKey(pair[0], pair[1])).inserted else { throw failure("repeats an earlier merge") }
            produced[Int(result)] = true
            merges.append(Merge(left: pair[0], right: pair[1], result: result))
        }
        if let id = produced.indices.dropFirst(Int(Self.firstMergeID)).first(where: { !produced[$0] }) {
            throw TrainerError("\(source): vocab entry \(id) '\(vocabulary[id])' is made by no merge; \(hint)")
        }
        self.init(tokenBytes: tokenBytes, merges: merges)
    }

    // MARK: Training

    /// Learns merges from `texts` until the vocabulary holds `vocabularySize` tokens (specials and
    /// bytes included; 260 or less means no merges) or no adjacent pair occurs `minimumFrequency`
    /// times.
    ///
    /// The standard algorithm: count the pieces of the texts once; hold each distinct piece as a
    /// sequence of token ids with its count; then repeatedly merge the most frequent adjacent pair
    /// everywhere (ties: the smallest (left, right) ids), giving the new token the next id (or, as
    /// HuggingFace does, the existing id when a different pair already made the same string). Pair
    /// counts are kept up to date by recounting only the pieces that hold the merged pair, which an
    /// index from pair to pieces finds; the next pair comes from a max-heap with lazy deletion.
    /// - Complexity: O(n) for the counting (n: bytes of text), then per merge O(k log p) for the k
    ///   pair occurrences in the pieces it touches (p: distinct pairs).
    public static func train(texts: some Sequence<String>, vocabularySize: Int, minimumFrequency: Int = 2,
                             progress: ProgressLine? = nil) -> BPETokenizer {
        // 1. Distinct pieces and their counts.
        var pieceCounts: [ExactString: Int] = [:]
        for text in texts {
            var text = text
            text.withUTF8 { bytes in
                forEachPiece(in: bytes) { range in
                    pieceCounts[ExactString(bytes: UnsafeBufferPointer(rebasing: bytes[range])), default: 0] += 1
                }
            }
        }
        // 2. Each piece as token ids (its bytes), with its count.
        var words: [[Int32]] = []        // (W, piece length)
        var frequencies: [Int] = []      // (W,)
        words.reserveCapacity(pieceCounts.count)
        frequencies.reserveCapacity(pieceCounts.count)
        for (piece, count) in pieceCounts {
            words.append(piece.string.utf8.map { firstByteID + Int32($0) })
            frequencies.append(count)
        }
        pieceCounts = [:]
        // 3. Count every adjacent pair, and index the pieces that hold each.
        var pairCounts: [UInt64: Int] = [:]
        var piecesWithPair: [UInt64: [Int32]] = [:]  // may list a piece twice, or one that lost the pair
        for (w, word) in words.enumerated() where word.count > 1 {
            for k in 0 ..< word.count - 1 {
                let pair = pairKey(word[k], word[k + 1])
                pairCounts[pair, default: 0] += frequencies[w]
                piecesWithPair[pair, default: []].append(Int32(w))
            }
        }
        var heap = PairHeap()
        for (pair, count) in pairCounts { heap.push(PairHeap.Entry(count: count, pair: pair)) }
        // 4. Merge.
        var tokenBytes: [[UInt8]] = Array(repeating: [], count: specialNames.count) + (0 ..< 256).map { [UInt8($0)] }
        var idOfBytes: [[UInt8]: Int32] = [:]
        for id in Int(firstByteID) ..< tokenBytes.count { idOfBytes[tokenBytes[id]] = Int32(id) }
        var merges: [Merge] = []
        var lastVisit = [Int](repeating: -1, count: words.count)  // (W,) the merge that last recounted each piece
        let threshold = max(1, minimumFrequency)
        progress?.begin("prepare: BPE merges", total: Double(max(0, vocabularySize - tokenBytes.count)))
        defer { progress?.end() }
        while tokenBytes.count < vocabularySize, let top = heap.pop() {
            // An entry may be stale, but never below its pair's count (counts only fall after a push, and
            // every rise is pushed anew): re-queue it at the current count.
            let count = pairCounts[top.pair] ?? 0
            if count != top.count {
                if count > 0 { heap.push(PairHeap.Entry(count: count, pair: top.pair)) }
                continue
            }
            if count < threshold { break }
            let left = Int32(truncatingIfNeeded: top.pair >> 32), right = Int32(truncatingIfNeeded: top.pair)
            let bytes = tokenBytes[Int(left)] + tokenBytes[Int(right)]
            let result: Int32
            if let existing = idOfBytes[bytes] {
                result = existing
            } else {
                result = Int32(tokenBytes.count)
                tokenBytes.append(bytes)
                idOfBytes[bytes] = result
            }
            merges.append(Merge(left: left, right: right, result: result))
            progress?.advance()
            // Recount each piece that holds the pair: remove its pairs, merge, add its new pairs.
            var newPairs = Set<UInt64>()
            for w in piecesWithPair.removeValue(forKey: top.pair) ?? [] where lastVisit[Int(w)] != merges.count {
                lastVisit[Int(w)] = merges.count
                let word = words[Int(w)], frequency = frequencies[Int(w)]
                guard zip(word, word.dropFirst()).contains(where: { $0 == left && $1 == right }) else { continue }
                for k in 0 ..< word.count - 1 { pairCounts[pairKey(word[k], word[k + 1])]! -= frequency }
                let merged = Self.merged(word, left: left, right: right, into: result)
                for k in 0 ..< merged.count - 1 {
                    let pair = pairKey(merged[k], merged[k + 1])
                    pairCounts[pair, default: 0] += frequency
                    if merged[k] == result || merged[k + 1] == result {
                        piecesWithPair[pair, default: []].append(w)
                        newPairs.insert(pair)
                    }
                }
                words[Int(w)] = merged
            }
            // Pairs with the new token only grew during the recount: queue them at their final counts.
            for pair in newPairs.sorted() { heap.push(PairHeap.Entry(count: pairCounts[pair]!, pair: pair)) }
        }
        return BPETokenizer(tokenBytes: tokenBytes, merges: merges)
    }

    /// `symbols` with every occurrence of (`left`, `right`), from left to right, replaced by `result`.
    @inline(__always)
    static func merged(_ symbols: [Int32], left: Int32, right: Int32, into result: Int32) -> [Int32] {
        var merged: [Int32] = []
        merged.reserveCapacity(symbols.count)
        var k = 0
        while k < symbols.count {
            if k + 1 < symbols.count && symbols[k] == left && symbols[k + 1] == right {
                merged.append(result)
                k += 2
            } else {
                merged.append(symbols[k])
                k += 1
            }
        }
        return merged
    }

    /// One key for an ordered pair of ids; keys order pairs as (left, right) tuples.
    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    // MARK: Encoding and decoding

    /// Appends the tokens of one piece (UTF-8 bytes) to `tokens`: starting from its bytes, merge the
    /// adjacent pair of lowest rank (all its occurrences, left to right) until no pair has a rank.
    /// - Complexity: O(m²) in the piece's length m (pieces are words: short).
    func encode(piece bytes: UnsafeBufferPointer<UInt8>, into tokens: inout [Int32]) {
        var symbols = bytes.map { Self.firstByteID + Int32($0) }
        while symbols.count > 1 {
            var best: (rank: Int32, result: Int32)?
            var bestIndex = 0
            for k in 0 ..< symbols.count - 1 {
                if let merge = mergeRanks[Self.pairKey(symbols[k], symbols[k + 1])], merge.rank < best?.rank ?? .max {
                    best = merge
                    bestIndex = k
                }
            }
            guard let best else { break }
            symbols = Self.merged(symbols, left: symbols[bestIndex], right: symbols[bestIndex + 1], into: best.result)
        }
        tokens.append(contentsOf: symbols)
    }

    /// Appends the tokens of `text` to `tokens` (no special tokens added).
    public func encode(_ text: String, into tokens: inout [Int32]) {
        var text = text
        text.withUTF8 { bytes in
            Self.forEachPiece(in: bytes) { range in
                let piece = UnsafeBufferPointer(rebasing: bytes[range])
                let key = ExactString(bytes: piece)
                if let cached = cache[key] {
                    tokens.append(contentsOf: cached)
                    return
                }
                let start = tokens.count
                encode(piece: piece, into: &tokens)
                cache[key] = Array(tokens[start...])
            }
        }
    }

    public func encode(_ text: String) -> [Int32] {
        var tokens: [Int32] = []
        encode(text, into: &tokens)
        return tokens
    }

    /// The text of `ids`: their bytes concatenated and read as UTF-8 (an invalid sequence, possible
    /// when the ids are cut mid-character, becomes U+FFFD). Specials and unknown ids are skipped.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= Self.firstByteID && Int(id) < tokenBytes.count { bytes += tokenBytes[Int(id)] }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The tokens of `ids` as text instead of byte symbols: `Ġto` → " to", `ĠÃ¨` → " è"; the
    /// specials keep their names. A character whose UTF-8 bytes are split over several tokens
    /// (byte-level merges allow that) is shown in each of them, followed by the bytes that token
    /// holds in hex: "è" split as C3 | A8 gives "è[C3]" and "è[A8]". A byte that is not part of a
    /// valid character shows as its hex alone, "[FF]". The number of labels is the number of ids.
    public func readableTokens(_ ids: [Int32]) -> [String] {
        var bytes: [UInt8] = [], ranges: [Range<Int>] = []
        for id in ids {
            let own = id >= Self.firstByteID && Int(id) < tokenBytes.count ? tokenBytes[Int(id)] : []
            ranges.append(bytes.count ..< bytes.count + own.count)
            bytes += own
        }
        // The characters of the whole sequence, with their byte ranges (nil text: an invalid byte).
        var characters: [(range: Range<Int>, text: String?)] = []
        var i = 0
        while i < bytes.count {
            let lead = bytes[i]
            let length = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 0
            if length > 0, i + length <= bytes.count, let text = String(validating: bytes[i ..< i + length], as: UTF8.self) {
                characters.append((i ..< i + length, text))
                i += length
            } else {
                characters.append((i ..< i + 1, nil))
                i += 1
            }
        }
        return ids.indices.map { k in
            let range = ranges[k]
            if range.isEmpty {
                let id = Int(ids[k])
                return id >= 0 && id < vocabulary.count ? vocabulary[id] : "?"
            }
            var label = ""
            for character in characters where character.range.overlaps(range) {
                if let text = character.text, range.contains(character.range.lowerBound), range.contains(character.range.upperBound - 1) {
                    label += text
                } else {
                    let held = bytes[character.range.clamped(to: range)].map { String(format: "%02X", $0) }.joined(separator: " ")
                    label += (character.text ?? "") + "[" + held + "]"
                }
            }
            return label
        }
    }

    /// The merges as stored: "left right" with the token strings, in rank order.
    public var mergeLines: [String] {
        merges.map { vocabulary[Int($0.left)] + " " + vocabulary[Int($0.right)] }
    }

    public func write(to group: HDF5Group) throws {
        try group.setAttribute("kind", kind)
        try group.writeStrings("vocab", vocabulary)
        try group.writeStrings("merges", mergeLines)
    }
}

// MARK: - The byte symbols

extension BPETokenizer {
    /// GPT-2's `bytes_to_unicode`: the scalar shown for each byte. The printable bytes of Latin-1
    /// (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for themselves; the k-th other byte, counting up from 0,
    /// is U+0100 + k (so a space is `Ġ`, U+0120, and a newline `Ċ`, U+010A).
    static let byteScalars: [UInt32] = {
        var scalars = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 0x100
        for byte in 0 ..< 256 {
            if (0x21 ... 0x7E).contains(byte) || (0xA1 ... 0xAC).contains(byte) || (0xAE ... 0xFF).contains(byte) {
                scalars[byte] = UInt32(byte)
            } else {
                scalars[byte] = next
                next += 1
            }
        }
        return scalars
    }()

    /// The symbol of each byte as a string (vocabulary entries 4–259).
    public static let byteSymbols: [String] = byteScalars.map { String(Character(Unicode.Scalar($0)!)) }

    /// The byte of each symbol scalar (indexed by scalar value, −1: not a byte symbol).
    static let bytesOfScalars: [Int16] = {
        var bytes = [Int16](repeating: -1, count: Int(byteScalars.max()!) + 1)
        for (byte, scalar) in byteScalars.enumerated() { bytes[Int(scalar)] = Int16(byte) }
        return bytes
    }()

    /// A token's string from its bytes.
    static func symbols(of bytes: [UInt8]) -> String {
        var string = String.UnicodeScalarView()
        for byte in bytes { string.append(Unicode.Scalar(byteScalars[Int(byte)])!) }
        return String(string)
    }

    /// A token's bytes from its string; nil if a scalar is not a byte symbol.
    static func bytes(ofSymbols string: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        for scalar in string.unicodeScalars {
            guard Int(scalar.value) < bytesOfScalars.count, bytesOfScalars[Int(scalar.value)] >= 0 else { return nil }
            bytes.append(UInt8(bytesOfScalars[Int(scalar.value)]))
        }
        return bytes
    }
}

// MARK: - Pre-tokenization

extension BPETokenizer {
    /// The classes of GPT-2's pattern.
    enum ScalarClass {
        /// `\p{L}`: a letter (general category Lu, Ll, Lt, Lm, Lo).
        case letter
        /// `\p{N}`: a number (Nd, Nl, No).
        case number
        /// `\s`: Unicode `White_Space`.
        case space
        /// Anything else: punctuation, symbols, marks, emoji, control characters.
        case other
    }

    @inline(__always)
    static func scalarClass(_ value: UInt32) -> ScalarClass {
        if value < 0x80 {
            switch value {
            case 0x41 ... 0x5A, 0x61 ... 0x7A: return .letter
            case 0x30 ... 0x39: return .number
            case 0x09 ... 0x0D, 0x20: return .space
            default: return .other
            }
        }
        guard let scalar = Unicode.Scalar(value) else { return .other }
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Calls `body` with the byte range of each piece of the UTF-8 text `bytes`, in order; the pieces
    /// cover the text exactly. The rules are GPT-2's pattern
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, first match wins:
    /// 1. an apostrophe followed by s, t, re, ve, m, ll or d (case-sensitive);
    /// 2. an optional single space, then a run of letters, of numbers, or of other non-space
    ///    scalars (so a word carries the space before it);
    /// 3. a run of whitespace, less its last scalar if a non-space follows (that scalar, when a space,
    ///    then starts the next word by rule 2, else stands alone).
    /// - Complexity: O(n) in the number of bytes.
    static func forEachPiece(in bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        let n = bytes.count
        /// The scalar at byte `i` and its length in bytes (a byte that does not decode reads as U+FFFD).
        @inline(__always) func scalar(at i: Int) -> (value: UInt32, length: Int) {
            if bytes[i] < 0x80 { return (UInt32(bytes[i]), 1) }
            return UTF8Scanner.decode(bytes, at: i) ?? (0xFFFD, 1)
        }
        /// The end of the run of `runClass` scalars starting at byte `i`.
        @inline(__always) func runEnd(from i: Int, of runClass: ScalarClass) -> Int {
            var j = i
            while j < n {
                let (value, length) = scalar(at: j)
                if scalarClass(value) != runClass { break }
                j += length
            }
            return j
        }
        var i = 0
        while i < n {
            let start = i
            let (value, length) = scalar(at: i)
            // 1. Contractions.
            if value == 0x27, let suffix = contractionLength(bytes, at: i + 1) {
                i += 1 + suffix
                body(start ..< i)
                continue
            }
            // 2. An optional space, then a run of letters, numbers or others.
            var runStart = i
            var runClass = scalarClass(value)
            if value == 0x20 && i + 1 < n {
                let nextClass = scalarClass(scalar(at: i + 1).value)
                if nextClass != .space {
                    runStart = i + 1
                    runClass = nextClass
                }
            }
            if runClass != .space {
                i = runEnd(from: runStart, of: runClass)
                body(start ..< i)
                continue
            }
            // 3. Whitespace: leave the last scalar to the next piece if a non-space follows.
            let end = runEnd(from: i, of: .space)
            if end < n && end > i + length {
                var last = end - 1
                while bytes[last] & 0xC0 == 0x80 { last -= 1 }  // back to the start of the last scalar
                i = last
            } else {
                i = end
            }
            body(start ..< i)
        }
    }

    /// The length of the contraction suffix (s, t, m, d: 1; re, ve, ll: 2) at byte `i`, if any.
    @inline(__always)
    static func contractionLength(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        guard i < bytes.count else { return nil }
        switch bytes[i] {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return 1
        case UInt8(ascii: "r"), UInt8(ascii: "v"):
            return i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "e") ? 2 : nil
        case UInt8(ascii: "l"):
            return i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "l") ? 2 : nil
        default: return nil
        }
    }

    /// The pieces of `text` that are encoded separately, in order (they concatenate to `text`).
    public static func preTokenize(_ text: String) -> [String] {
        var pieces: [String] = []
        var text = text
        text.withUTF8 { bytes in
            forEachPiece(in: bytes) { pieces.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[$0]), as: UTF8.self)) }
        }
        return pieces
    }
}

// MARK: - Helpers

/// A string compared and hashed by its UTF-8 bytes. (`String` compares by canonical equivalence, so
/// "é" and "e\u{301}", which have different bytes and so different tokens, would be one key.)
struct ExactString: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    init(bytes: UnsafeBufferPointer<UInt8>) { string = String(decoding: bytes, as: UTF8.self) }

    static func == (a: ExactString, b: ExactString) -> Bool {
        a.string.utf8.count == b.string.utf8.count && a.string.utf8.elementsEqual(b.string.utf8)
    }

    func hash(into hasher: inout Hasher) {
        let hashed: Void? = string.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil { for byte in string.utf8 { hasher.combine(byte) } }
    }
}

/// Encodings of pieces already seen, shared by the copies of one tokenizer and safe to use from
/// several threads. Emptied when it reaches `capacity` entries, to bound its memory.
final class PieceCache: @unchecked Sendable {
    private var encodings: [ExactString: [Int32]] = [:]
    private let lock = NSLock()
    let capacity = 1 << 16

    subscript(piece: ExactString) -> [Int32]? {
        get { lock.withLock { encodings[piece] } }
        set {
            lock.withLock {
                if encodings.count >= capacity { encodings.removeAll(keepingCapacity: true) }
                encodings[piece] = newValue
            }
        }
    }
}

/// A binary max-heap of pair counts for BPE training: the top is the largest count, and among equal
/// counts the smallest pair key (the lexicographically smallest (left, right)).
struct PairHeap {
    struct Entry {
        var count: Int
        var pair: UInt64

        /// Whether `self` comes out before `other`.
        @inline(__always)
        func precedes(_ other: Entry) -> Bool {
            count != other.count ? count > other.count : pair < other.pair
        }
    }

    private var entries: [Entry] = []

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = entries.first else { return nil }
        let last = entries.removeLast()
        if entries.isEmpty { return top }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var first = parent
            if left < entries.count && entries[left].precedes(entries[first]) { first = left }
            if right < entries.count && entries[right].precedes(entries[first]) { first = right }
            if first == parent { break }
            entries.swapAt(parent, first)
            parent = first
        }
        return top
    }
}
