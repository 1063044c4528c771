import Foundation

/// Character-level tokenizer (nanoGPT's shakespeare_char): the vocabulary is the sorted set of
/// Unicode scalars of the corpus; each scalar is one token.
public struct CharTokenizer: Tokenizer {
    public let kind = "char"
    public let vocabulary: [String]
    public var specials: SpecialTokens? { nil }
    /// Ids of ASCII scalars (−1: not in the vocabulary), for the fast path.
    private let ascii: [Int32]
    /// Ids of all other scalars.
    private let others: [UInt32: Int32]

    /// A tokenizer over the given scalars (sorted by code point).
    public init(scalars: Set<UInt32>) {
        let sorted = scalars.sorted()
        vocabulary = sorted.map { String(Character(Unicode.Scalar($0)!)) }
        var ascii = [Int32](repeating: -1, count: 128)
        var others: [UInt32: Int32] = [:]
        for (id, scalar) in sorted.enumerated() {
            if scalar < 128 { ascii[Int(scalar)] = Int32(id) } else { others[scalar] = Int32(id) }
        }
        self.ascii = ascii
        self.others = others
    }

    /// Reads the vocabulary stored by `write(to:)`.
    public init(from group: HDF5Group) throws {
        let strings = try group.dataset("vocab").readStrings()
        var scalars = Set<UInt32>()
        for string in strings {
            guard string.unicodeScalars.count == 1, let scalar = string.unicodeScalars.first else {
                throw TrainerError("\(group.path)/vocab: char tokenizer entry '\(string)' is not one character")
            }
            scalars.insert(scalar.value)
        }
        self.init(scalars: scalars)
        guard vocabulary == strings else { throw TrainerError("\(group.path)/vocab: not sorted by code point") }
    }

    /// The id of one scalar, nil if it is not in the vocabulary.
    @inline(__always)
    public func id(of scalar: UInt32) -> Int32? {
        if scalar < 128 {
            let id = ascii[Int(scalar)]
            return id >= 0 ? id : nil
        }
        return others[scalar]
    }

    /// Encodes UTF-8 bytes into `ids`; returns the number of bytes consumed (a trailing incomplete
    /// scalar is left for the next call). A character outside the vocabulary throws, or with
    /// `unknown` is skipped and handed to it.
    public func encode(utf8 bytes: UnsafeBufferPointer<UInt8>, into ids: inout [Int32],
                       unknown: ((UInt32) -> Void)? = nil) throws -> Int {
        var i = 0
        let n = bytes.count
        while i < n {
            let byte = bytes[i]
            let scalar: UInt32, length: Int
            if byte < 0x80 {
                let id = ascii[Int(byte)]
                if id >= 0 {
                    ids.append(id)
                    i += 1
                    continue
                }
                (scalar, length) = (UInt32(byte), 1)
            } else {
                guard let decoded = UTF8Scanner.decode(bytes, at: i) else { return i }
                (scalar, length) = decoded
                if let id = others[scalar] {
                    ids.append(id)
                    i += length
                    continue
                }
            }
            guard let unknown else {
                throw TrainerError("character U+\(String(scalar, radix: 16, uppercase: true)) is not in the vocabulary")
            }
            unknown(scalar)
            i += length
        }
        return i
    }

    public func encode(_ text: String) -> [Int32] {
        text.unicodeScalars.compactMap { id(of: $0.value) }
    }

    public func decode(_ ids: [Int32]) -> String {
        ids.map { $0 >= 0 && Int($0) < vocabulary.count ? vocabulary[Int($0)] : "" }.joined()
    }

    public func write(to group: HDF5Group) throws {
        try group.setAttribute("kind", kind)
        try group.writeStrings("vocab", vocabulary)
    }
}

/// Minimal UTF-8 decoding over raw bytes (for streaming corpora in chunks), strict: overlong forms,
/// surrogates, code points above U+10FFFF and stray bytes are invalid, not U+FFFD.
enum UTF8Scanner {
    /// The scalar starting at `index` and its length in bytes; nil if the sequence is cut off by the
    /// end of the buffer or is not valid UTF-8 (`firstInvalid` tells them apart).
    @inline(__always)
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (UInt32, Int)? {
        let first = bytes[index]
        if first < 0x80 { return (UInt32(first), 1) }
        let length: Int
        switch first {
        case 0xC2 ... 0xDF: length = 2
        case 0xE0 ... 0xEF: length = 3
        case 0xF0 ... 0xF4: length = 4
        default: return nil
        }
        if index + length > bytes.count { return nil }
        var scalar = UInt32(first) & (0xFF >> UInt32(length + 1))
        for k in 1 ..< length {
            let byte = bytes[index + k]
            if byte & 0xC0 != 0x80 { return nil }
            scalar = scalar << 6 | UInt32(byte & 0x3F)
        }
        let overlong = (length == 3 && scalar < 0x800) || (length == 4 && scalar < 0x10000)
        if overlong || scalar > 0x10FFFF || (0xD800 ... 0xDFFF).contains(scalar) { return nil }
        return (scalar, length)
    }

    /// Whether the bytes from `index` on are a valid UTF-8 sequence cut off by the end of the
    /// buffer (to be completed by the next chunk), rather than an invalid one.
    static func isTruncated(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> Bool {
        let first = bytes[index]
        let length = (0xC2 ... 0xDF).contains(first) ? 2 : (0xE0 ... 0xEF).contains(first) ? 3 : (0xF0 ... 0xF4).contains(first) ? 4 : 0
        guard length > 0, index + length > bytes.count else { return false }
        return bytes[(index + 1)...].allSatisfy { $0 & 0xC0 == 0x80 }
    }

    /// The offset of the first byte that makes `bytes` not UTF-8 text: an invalid sequence, or a
    /// NUL (text corpora have none; a binary file does), or a sequence cut off at the end when
    /// `isLast`. nil when all is well (a cut-off sequence before the end of a chunk is fine).
    static func firstInvalid(_ bytes: UnsafeBufferPointer<UInt8>, isLast: Bool) -> Int? {
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte < 0x80 {
                if byte == 0 { return i }
                i += 1
            } else if let (_, length) = decode(bytes, at: i) {
                i += length
            } else {
                return !isLast && isTruncated(bytes, at: i) ? nil : i
            }
        }
        return nil
    }

    /// The one-line error of `command` for a file that is not UTF-8 text, given `firstInvalid`'s
    /// offset within `bytes` and the offset of `bytes` in the file.
    static func notText(_ path: String, bytes: UnsafeBufferPointer<UInt8>, at index: Int, fileOffset: Int,
                        command: String) -> TrainerError {
        let byte = bytes[index]
        if byte == 0 {
            return TrainerError("\(command): \(path): not a text file (a NUL byte at offset \(fileOffset + index)); it must be UTF-8 text")
        }
        return TrainerError("\(command): \(path): not UTF-8 text (byte 0x\(String(byte, radix: 16, uppercase: true)) at offset \(fileOffset + index)); convert it first, e.g. iconv -f latin1 -t utf-8")
    }

    /// Throws `notText` unless the whole of `data` (the file at `path`) is UTF-8 text.
    static func requireText(_ data: Data, path: String, command: String) throws {
        try data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            if let bad = firstInvalid(bytes, isLast: true) {
                throw notText(path, bytes: bytes, at: bad, fileOffset: 0, command: command)
            }
        }
    }

    /// Adds every scalar of `bytes` to `scalars` (ASCII through a 128-entry table); returns the
    /// number of bytes consumed and the number of scalars seen. Stops before a sequence it cannot
    /// decode (check `firstInvalid` first).
    static func collect(_ bytes: UnsafeBufferPointer<UInt8>, ascii: inout [Bool], others: inout Set<UInt32>) -> (Int, Int) {
        var i = 0, count = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte < 0x80 {
                ascii[Int(byte)] = true
                i += 1
            } else {
                guard let (scalar, length) = decode(bytes, at: i) else { break }
                others.insert(scalar)
                i += length
            }
            count += 1
        }
        return (i, count)
    }
}
