import Foundation
import XCTest
import TrainerKit

final class BPETokenizerTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Strings that are easy to get wrong: multi-byte and decomposed characters, emoji with
    /// modifiers, runs of spaces, newlines, tabs, contractions, digits, leading/trailing space.
    let trickyStrings = [
        "", " ", "   ", "\n", "\t\t", "a", "Hello, world!",
        "Hello world's  test", "I'm   here!\n\nNew line\tand tabs  ", "don't they'll we've I'D",
        " leading and trailing ", "naïve café — 東京 2024年 😀👍🏽 e\u{301}", "👨‍👩‍👧‍👦 family", "\r\n windows\r\n",
        "1,234.56 +3e10 007", "Ünïcödé ÀÉÎÕÜ ß ﬁ", "ελληνικά русский العربية हिन्दी", "'s'' 'll !'s",
        "x\u{A0} y\u{2003}z", "tabs\tand\u{B}vertical\u{C}feeds", "\u{0}\u{1}\u{7F} control", "≠ =\u{338}",
    ]

    let smallCorpus = (0 ..< 50).flatMap { _ in
        ["the quick brown fox jumps over the lazy dog", "the dog sleeps", "a quick fox"]
    }

    func testByteSymbolsAreGPT2s() {
        let symbols = BPETokenizer.byteSymbols
        XCTAssertEqual(symbols.count, 256)
        XCTAssertEqual(Set(symbols).count, 256)
        XCTAssertEqual(symbols[Int(UInt8(ascii: " "))], "Ġ")
        XCTAssertEqual(symbols[Int(UInt8(ascii: "\n"))], "Ċ")
        XCTAssertEqual(symbols[0], "Ā")
        XCTAssertEqual(symbols[Int(UInt8(ascii: "A"))], "A")
        XCTAssertEqual(symbols[0xAD], "Ń")  // soft hyphen: the last unprintable byte, U+0100 + 67
        XCTAssertEqual(symbols[0xE9], "é")
        let tokenizer = BPETokenizer.train(texts: ["abc"], vocabularySize: 260)
        XCTAssertEqual(Array(tokenizer.vocabulary[4 ..< 260]), symbols)
        XCTAssertEqual(Array(tokenizer.vocabulary[0 ..< 4]), ["[PAD]", "[SOS]", "[EOS]", "[UNK]"])
        XCTAssertEqual(tokenizer.specials, SpecialTokens(pad: 0, sos: 1, eos: 2, unk: 3))
        XCTAssertEqual(tokenizer.encode("é"), [4 + 0xC3, 4 + 0xA9])
    }

    /// Attention maps label tokens with `readableTokens`: text instead of byte symbols, the
    /// specials by name, one label per id, and a character split over tokens shown in each with
    /// the bytes that token holds.
    func testReadableTokensAreTextNotByteSymbols() {
        let tokenizer = BPETokenizer.train(texts: Array(repeating: "he goes to the sea, è vero, perché", count: 20), vocabularySize: 300)
        let sentence = " he goes to the sea, è vero, perché"
        let ids = tokenizer.encode(sentence)
        XCTAssertTrue(tokenizer.vocabulary.contains("Ġto") && ids.contains(Int32(tokenizer.vocabulary.firstIndex(of: "Ġto")!)),
                      "the corpus makes the symbol Ġto")
        let labels = tokenizer.readableTokens(ids)
        XCTAssertEqual(labels.count, ids.count)
        XCTAssertEqual(labels.joined(), sentence, "whole characters: the labels spell the sentence")
        XCTAssertTrue(labels.contains(" to"), "\(labels)")
        XCTAssertFalse(labels.joined().contains("Ġ"), "\(labels)")
        XCTAssertEqual(tokenizer.readableTokens([1, 2, 0]), ["[SOS]", "[EOS]", "[PAD]"])
        // "è" (C3 A8) as two byte tokens, after a space token: each shows the character and its byte.
        let space = 4 + Int32(UInt8(ascii: " ")), c3: Int32 = 4 + 0xC3, a8: Int32 = 4 + 0xA8
        XCTAssertEqual(tokenizer.vocabulary[Int(c3)], "Ã")
        XCTAssertEqual(tokenizer.readableTokens([1, space, c3, a8, 2]), ["[SOS]", " ", "è[C3]", "è[A8]", "[EOS]"])
        // A lone lead byte and a stray continuation byte are not characters: their hex alone.
        XCTAssertEqual(tokenizer.readableTokens([a8, 4 + Int32(UInt8(ascii: "a")), c3]), ["[A8]", "a", "[C3]"])
        // Other tokenizers label tokens with their vocabulary entries.
        let words = WordTokenizer.train(texts: ["the sea is blue"], minimumFrequency: 1)
        XCTAssertEqual(words.readableTokens(words.encode("the sea")), ["the", "sea"])
    }

    func testPreTokenizationMatchesGPT2sPattern() {
        // Expected pieces from Python: regex.findall(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""", text)
        // (the `regex` package).
        let cases: [(String, [String])] = [
            ("Hello world's  test", ["Hello", " world", "'s", " ", " test"]),
            ("I'm   here!\n\nNew line\tand tabs  ", ["I", "'m", "  ", " here", "!", "\n", "\n", "New", " line", "\t", "and", " tabs", "  "]),
            ("don't they'll we've I'D", ["don", "'t", " they", "'ll", " we", "'ve", " I", "'", "D"]),
            (" leading and trailing ", [" leading", " and", " trailing", " "]),
            ("na\u{EF}ve caf\u{E9} \u{2014} \u{6771}\u{4EAC} 2024\u{5E74} \u{1F600}\u{1F44D}\u{1F3FD} e\u{301}", ["na\u{EF}ve", " caf\u{E9}", " \u{2014}", " \u{6771}\u{4EAC}", " 2024", "\u{5E74}", " \u{1F600}\u{1F44D}\u{1F3FD}", " e", "\u{301}"]),
            ("  \n x", ["  \n", " x"]),
            ("x\u{A0} y", ["x", "\u{A0}", " y"]),
            ("'s'' 'll", ["'s", "''", " '", "ll"]),
            ("1,234.56 +3e10", ["1", ",", "234", ".", "56", " +", "3", "e", "10"]),
            ("a\r\nb", ["a", "\r", "\n", "b"]),
            ("!'s", ["!'", "s"]),
            ("", []),
            ("   ", ["   "]),
        ]
        for (text, expected) in cases {
            let pieces = BPETokenizer.preTokenize(text)
            XCTAssertEqual(pieces.map { Array($0.utf8) }, expected.map { Array($0.utf8) }, text)
        }
        for text in trickyStrings {
            XCTAssertEqual(Array(BPETokenizer.preTokenize(text).joined().utf8), Array(text.utf8), text)
        }
    }

    func testDecodeInvertsEncodeExactly() {
        var random = TestRandom(seed: 3)
        let trained = BPETokenizer.train(texts: TokenizerCorpus.sentences(count: 2_000, random: &random) + trickyStrings,
                                         vocabularySize: 1_000)
        let bytesOnly = BPETokenizer.train(texts: trickyStrings, vocabularySize: 260)
        XCTAssertTrue(bytesOnly.merges.isEmpty)
        for tokenizer in [trained, bytesOnly] {
            for text in trickyStrings + trickyStrings {  // twice: the second time from the cache
                let tokens = tokenizer.encode(text)
                XCTAssertEqual(Array(tokenizer.decode(tokens).utf8), Array(text.utf8), text)
                XCTAssertFalse(tokens.contains { $0 < 4 }, "no specials, no [UNK]")
            }
        }
        XCTAssertEqual(trained.decode([1] + trained.encode("Hello") + [2, 0, 0]), "Hello", "specials are skipped")
        // Cutting a character in two decodes to U+FFFD, not a crash.
        XCTAssertEqual(bytesOnly.decode(Array(bytesOnly.encode("é").prefix(1))), "\u{FFFD}")
    }

    func testTrainingMakesCommonWordsSingleTokens() {
        let tokenizer = BPETokenizer.train(texts: smallCorpus, vocabularySize: 400)
        for word in ["the", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", " sleeps", "a"] {
            XCTAssertEqual(tokenizer.encode(word).count, 1, word)
        }
        XCTAssertEqual(tokenizer.encode("the quick brown fox jumps").count, 5)
        XCTAssertTrue(tokenizer.vocabulary.contains("Ġquick"))
        // Merges stop when no pair occurs twice: fewer tokens than asked for.
        XCTAssertLessThan(tokenizer.count, 400)
        XCTAssertEqual(tokenizer.decode(tokenizer.encode("the quick dog")), "the quick dog")
        // An unseen word falls back to smaller pieces.
        XCTAssertEqual(tokenizer.decode(tokenizer.encode("the zebra")), "the zebra")
        XCTAssertGreaterThan(tokenizer.encode(" zebra").count, 1)
    }

    func testVocabularySizeAndMinimumFrequencyAreRespected() {
        var random = TestRandom(seed: 5)
        let texts = TokenizerCorpus.sentences(count: 1_000, random: &random)
        for size in [260, 261, 300, 777] {
            XCTAssertEqual(BPETokenizer.train(texts: texts, vocabularySize: size).count, size)
        }
        XCTAssertEqual(BPETokenizer.train(texts: texts, vocabularySize: 100).count, 260, "specials and bytes always")
        let rare = BPETokenizer.train(texts: texts, vocabularySize: 5_000, minimumFrequency: 200)
        XCTAssertLessThan(rare.count, 5_000)
        XCTAssertGreaterThan(rare.count, 260)
    }

    func testTrainingIsDeterministicAndMatchesTheNaiveAlgorithm() {
        var random = TestRandom(seed: 11)
        let texts = TokenizerCorpus.sentences(count: 600, lexiconSize: 800, random: &random) + trickyStrings
        let first = BPETokenizer.train(texts: texts, vocabularySize: 900)
        let second = BPETokenizer.train(texts: texts, vocabularySize: 900)
        let reversed = BPETokenizer.train(texts: texts.reversed(), vocabularySize: 900)
        XCTAssertEqual(first.vocabulary, second.vocabulary)
        XCTAssertEqual(first.merges, second.merges)
        XCTAssertEqual(first.vocabulary, reversed.vocabulary, "pair counts do not depend on the order of the texts")
        XCTAssertEqual(first.merges, reversed.merges)
        let reference = NaiveBPE.train(texts: texts, vocabularySize: 900, minimumFrequency: 2)
        XCTAssertEqual(first.merges.count, reference.merges.count)
        XCTAssertEqual(first.merges, reference.merges)
        XCTAssertEqual(first.vocabulary, reference.vocabulary)
    }

    func testStorageRoundTrip() throws {
        var random = TestRandom(seed: 13)
        let tokenizer = BPETokenizer.train(texts: TokenizerCorpus.sentences(count: 1_000, random: &random), vocabularySize: 600)
        let path = directory.appendingPathComponent("bpe.h5").path
        do {
            let file = try HDF5File(path: path, mode: .truncate)
            try tokenizer.write(to: try file.createGroup("tokenizer"))
            try file.close()
        }
        let file = try HDF5File(path: path, mode: .readOnly)
        let group = try file.group("tokenizer")
        XCTAssertEqual(try group.stringAttribute("kind"), "bpe")
        let lines = try group.dataset("merges").readStrings()
        XCTAssertEqual(lines, tokenizer.mergeLines)
        XCTAssertTrue(lines.allSatisfy { $0.split(separator: " ").count == 2 })
        let read = try Tokenizers.read(from: group)
        XCTAssertEqual(read.kind, "bpe")
        XCTAssertEqual(read.vocabulary, tokenizer.vocabulary)
        XCTAssertEqual((read as? BPETokenizer)?.merges, tokenizer.merges)
        XCTAssertEqual(read.specials, tokenizer.specials)
        for text in trickyStrings + TokenizerCorpus.sentences(count: 50, random: &random) {
            XCTAssertEqual(read.encode(text), tokenizer.encode(text), text)
        }
    }

    func testInconsistentFilesAreRejected() throws {
        let tokenizer = BPETokenizer.train(texts: smallCorpus, vocabularySize: 300)
        let vocabulary = tokenizer.vocabulary, merges = tokenizer.mergeLines
        XCTAssertNoThrow(try BPETokenizer(vocabulary: vocabulary, merges: merges))
        func assertRejected(_ vocabulary: [String], _ merges: [String], _ expected: String, line: UInt = #line) {
            XCTAssertThrowsError(try BPETokenizer(vocabulary: vocabulary, merges: merges), line: line) { error in
                XCTAssertTrue(error is TrainerError, line: line)
                XCTAssertTrue("\(error)".contains(expected), "\(error)", line: line)
                XCTAssertFalse("\(error)".contains("\n"), line: line)
            }
        }
        assertRejected(Array(vocabulary.dropFirst()), merges, "starts with [PAD], [SOS], [EOS], [UNK]")
        assertRejected(Array(vocabulary.prefix(200)), [], "fewer than the 4 specials and 256 bytes")
        var swapped = vocabulary
        swapped.swapAt(40, 41)
        assertRejected(swapped, merges, "expected the symbol of byte")
        assertRejected(vocabulary + ["a b"], merges, "not a string of byte symbols")  // a space is never a symbol
        assertRejected(vocabulary + [vocabulary[261]], merges, "repeats entry 261")
        assertRejected(vocabulary, merges + ["Ġ"], "two tokens separated by one space")
        assertRejected(vocabulary, merges + ["Ġ zzz"], "'zzz', which is not a token")
        assertRejected(vocabulary, merges + ["x y"], "'xy', which is not a merged token")
        assertRejected(vocabulary, [merges[0]] + merges, "repeats an earlier merge")
        assertRejected(vocabulary, Array(merges.dropFirst()), "before any merge makes it")
        assertRejected(vocabulary, Array(merges.dropLast()), "is made by no merge")
        // Read from a file, the message names the group.
        let path = directory.appendingPathComponent("bad.h5").path
        let file = try HDF5File(path: path, mode: .truncate)
        let group = try file.createGroup("tokenizer/target")
        try group.setAttribute("kind", "bpe")
        try group.writeStrings("vocab", vocabulary)
        try group.writeStrings("merges", ["Ġ zzz"] + merges)
        XCTAssertThrowsError(try Tokenizers.read(from: group)) { error in
            XCTAssertTrue("\(error)".hasPrefix("/tokenizer/target: merge 0 "), "\(error)")
        }
    }

    /// Training time on a generated corpus (no assertion on time). To measure other sizes set
    /// TOKENIZER_BENCH_SENTENCES, TOKENIZER_BENCH_LEXICON (distinct words), TOKENIZER_BENCH_VOCABULARY,
    /// or TOKENIZER_BENCH_FILE to train on the lines of a text file instead.
    func testTrainingSpeed() throws {
        let environment = ProcessInfo.processInfo.environment
        let size = environment["TOKENIZER_BENCH_VOCABULARY"].flatMap(Int.init) ?? 8_000
        let texts: [String]
        if let path = environment["TOKENIZER_BENCH_FILE"] {
            texts = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        } else {
            var random = TestRandom(seed: 17)
            texts = TokenizerCorpus.sentences(count: environment["TOKENIZER_BENCH_SENTENCES"].flatMap(Int.init) ?? 20_000,
                                              lexiconSize: environment["TOKENIZER_BENCH_LEXICON"].flatMap(Int.init) ?? 20_000,
                                              random: &random)
        }
        let count = texts.count
        let bytes = texts.reduce(0) { $0 + $1.utf8.count }
        let start = Date()
        let tokenizer = BPETokenizer.train(texts: texts, vocabularySize: size)
        let trained = Date()
        var tokens = 0
        for text in texts { tokens += tokenizer.encode(text).count }
        let encoded = Date()
        print(String(format: "bpe tokenizer: trained on %d sentences (%.1f MB) in %.2f s (%d tokens, %d merges); encoded %d tokens in %.2f s (%.1f MB/s, %.2f bytes/token)",
                     count, Double(bytes) / 1e6, trained.timeIntervalSince(start), tokenizer.count, tokenizer.merges.count,
                     tokens, encoded.timeIntervalSince(trained), Double(bytes) / 1e6 / encoded.timeIntervalSince(trained),
                     Double(bytes) / Double(tokens)))
        XCTAssertLessThanOrEqual(tokenizer.count, size)
        XCTAssertGreaterThan(tokenizer.count, 260)
    }
}

/// The plain version of BPE training, the reference for the incremental one: recount every pair of
/// every piece before each merge.
enum NaiveBPE {
    static func train(texts: [String], vocabularySize: Int, minimumFrequency: Int) -> (vocabulary: [String], merges: [BPETokenizer.Merge]) {
        var counts: [[UInt8]: Int] = [:]
        for text in texts {
            for piece in BPETokenizer.preTokenize(text) { counts[Array(piece.utf8), default: 0] += 1 }
        }
        var words = counts.map { (symbols: $0.key.map { Int32($0) + 4 }, count: $0.value) }
        var tokens: [[UInt8]] = Array(repeating: [], count: 4) + (0 ..< 256).map { [UInt8($0)] }
        var merges: [BPETokenizer.Merge] = []
        while tokens.count < vocabularySize {
            // Pairs as (left << 32 | right): ordered like (left, right).
            var pairs: [UInt64: Int] = [:]
            for word in words where word.symbols.count > 1 {
                for k in 0 ..< word.symbols.count - 1 {
                    pairs[UInt64(word.symbols[k]) << 32 | UInt64(word.symbols[k + 1]), default: 0] += word.count
                }
            }
            // The largest count; among equal counts the smallest pair.
            guard let best = pairs.max(by: { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }),
                  best.value >= minimumFrequency else { break }
            let (left, right) = (Int32(best.key >> 32), Int32(best.key & 0xFFFF_FFFF))
            let bytes = tokens[Int(left)] + tokens[Int(right)]
            let result: Int32
            if let existing = tokens.firstIndex(of: bytes) {
                result = Int32(existing)
            } else {
                result = Int32(tokens.count)
                tokens.append(bytes)
            }
            merges.append(BPETokenizer.Merge(left: left, right: right, result: result))
            for w in words.indices {
                var merged: [Int32] = [], k = 0
                let symbols = words[w].symbols
                while k < symbols.count {
                    if k + 1 < symbols.count && symbols[k] == left && symbols[k + 1] == right {
                        merged.append(result)
                        k += 2
                    } else {
                        merged.append(symbols[k])
                        k += 1
                    }
                }
                words[w].symbols = merged
            }
        }
        let vocabulary = ["[PAD]", "[SOS]", "[EOS]", "[UNK]"] + tokens.dropFirst(4).map { bytes in
            bytes.map { BPETokenizer.byteSymbols[Int($0)] }.joined()
        }
        return (vocabulary, merges)
    }
}
