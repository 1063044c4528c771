import Foundation
import XCTest
import TrainerKit

final class WordTokenizerTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("word-tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    let corpus = [
        "the cat sat on the mat.",
        "The dog sat, the cat ran!",
        "a bird flew over the cat.",
        "don't stop the dog.",
    ]

    func testPreTokenizationMatchesTheWhitespaceRegex() {
        // Expected pieces from Python: regex.findall(r"\w+|[^\w\s]+", text) (the `regex` package).
        let cases: [(String, [String])] = [
            ("Hello, world!", ["Hello", ",", "world", "!"]),
            ("don't stop...", ["don", "'", "t", "stop", "..."]),
            ("na\u{EF}ve caf\u{E9} \u{6771}\u{4EAC} x_y2 \u{E9}\u{301} ?!", ["na\u{EF}ve", "caf\u{E9}", "\u{6771}\u{4EAC}", "x_y2", "\u{E9}\u{301}", "?!"]),
            ("(a) [b] {c}", ["(", "a", ")", "[", "b", "]", "{", "c", "}"]),
            ("l'uomo dell'anno", ["l", "'", "uomo", "dell", "'", "anno"]),
            ("  \t\n ", []),
            ("\u{1F600}\u{1F44D} ok", ["\u{1F600}\u{1F44D}", "ok"]),
        ]
        for (text, expected) in cases {
            let pieces = WordTokenizer.preTokenize(text)
            XCTAssertEqual(pieces.map { Array($0.utf8) }, expected.map { Array($0.utf8) }, text)
        }
    }

    func testTrainingKeepsFrequentWordsInADeterministicOrder() {
        let tokenizer = WordTokenizer.train(texts: corpus)
        // Counts: the 5, cat 3, . 3, sat 2, dog 2; the rest once.
        XCTAssertEqual(tokenizer.vocabulary, ["[PAD]", "[SOS]", "[EOS]", "[UNK]", "the", ".", "cat", "dog", "sat"])
        XCTAssertEqual(tokenizer.kind, "word")
        XCTAssertEqual(tokenizer.specials, SpecialTokens(pad: 0, sos: 1, eos: 2, unk: 3))
        XCTAssertEqual(tokenizer.minimumFrequency, 2)
        // The order of the texts does not matter.
        XCTAssertEqual(WordTokenizer.train(texts: corpus.reversed()).vocabulary, tokenizer.vocabulary)
        // Everything, ties broken by the strings.
        let all = WordTokenizer.train(texts: corpus, minimumFrequency: 1)
        XCTAssertEqual(Array(all.vocabulary.prefix(9)), tokenizer.vocabulary)
        XCTAssertEqual(Array(all.vocabulary.dropFirst(9)),
                       ["!", "'", ",", "The", "a", "bird", "don", "flew", "mat", "on", "over", "ran", "stop", "t"])
        // A cap counts the specials.
        XCTAssertEqual(WordTokenizer.train(texts: corpus, maximumSize: 6).vocabulary, ["[PAD]", "[SOS]", "[EOS]", "[UNK]", "the", "."])
        XCTAssertEqual(WordTokenizer.train(texts: corpus, maximumSize: 1).vocabulary.count, 4)
    }

    func testEncodeMapsUnknownWordsToUNKAndDecodeSkipsSpecials() {
        let tokenizer = WordTokenizer.train(texts: corpus)
        XCTAssertEqual(tokenizer.encode("the cat sat."), [4, 6, 8, 5])
        XCTAssertEqual(tokenizer.encode("the zebra sat"), [4, 3, 8])
        XCTAssertEqual(tokenizer.encode("The cat"), [3, 6], "case-sensitive")
        XCTAssertEqual(tokenizer.encode("   "), [])
        XCTAssertEqual(tokenizer.decode([1, 4, 6, 3, 8, 5, 2, 0, 0]), "the cat sat.")
        XCTAssertEqual(tokenizer.decode([99, -1, 4]), "the", "ids outside the vocabulary are skipped")
        var tokens: [Int32] = [1]
        tokenizer.encode("dog", into: &tokens)
        XCTAssertEqual(tokens, [1, 7])
    }

    func testDecodeAttachesPunctuationReadably() throws {
        let words = ["Hello", ",", "world", "!", "don", "'", "t", "(", "a", ")", "b", ".", "l", "uomo", "?", "[", "x", "]", ":", "’", "s"]
        let tokenizer = try WordTokenizer(vocabulary: ["[PAD]", "[SOS]", "[EOS]", "[UNK]"] + words, minimumFrequency: 1)
        func roundTrip(_ text: String) -> String { tokenizer.decode(tokenizer.encode(text)) }
        XCTAssertEqual(roundTrip("Hello , world !"), "Hello, world!")
        XCTAssertEqual(roundTrip("don ' t"), "don't")
        XCTAssertEqual(roundTrip("l'uomo"), "l'uomo")
        XCTAssertEqual(roundTrip("Hello’s world"), "Hello’s world")
        XCTAssertEqual(roundTrip("( a ) b ."), "(a) b.")
        XCTAssertEqual(roundTrip("a [ x ] : b ?"), "a [x]: b?")
        XCTAssertEqual(roundTrip("Hello , ' world"), "Hello,' world", "an apostrophe not after a word does not join the next word")
    }

    func testStorageRoundTrip() throws {
        let tokenizer = WordTokenizer.train(texts: corpus, minimumFrequency: 1)
        let path = directory.appendingPathComponent("word.h5").path
        do {
            let file = try HDF5File(path: path, mode: .truncate)
            try tokenizer.write(to: try file.createGroup("tokenizer"))
            try file.close()
        }
        let file = try HDF5File(path: path, mode: .readOnly)
        let group = try file.group("tokenizer")
        XCTAssertEqual(try group.stringAttribute("kind"), "word")
        XCTAssertEqual(try group.intAttribute("min_frequency"), 1)
        let read = try Tokenizers.read(from: group)
        XCTAssertEqual(read.kind, "word")
        XCTAssertEqual(read.vocabulary, tokenizer.vocabulary)
        XCTAssertEqual(read.specials, tokenizer.specials)
        XCTAssertTrue(read.matches(tokenizer))
        XCTAssertEqual((read as? WordTokenizer)?.minimumFrequency, 1)
        for text in corpus + ["an unseen sentence, the cat!"] {
            XCTAssertEqual(read.encode(text), tokenizer.encode(text), text)
        }
    }

    func testAVocabularyWithoutTheSpecialsIsRejected() throws {
        let path = directory.appendingPathComponent("bad.h5").path
        let file = try HDF5File(path: path, mode: .truncate)
        let group = try file.createGroup("tokenizer/source")
        try group.setAttribute("kind", "word")
        try group.writeStrings("vocab", ["the", "cat", "[PAD]", "[SOS]", "[EOS]", "[UNK]"])
        XCTAssertThrowsError(try Tokenizers.read(from: group)) { error in
            let message = "\(error)"
            XCTAssertTrue(error is TrainerError, message)
            XCTAssertTrue(message.hasPrefix("/tokenizer/source/vocab: "), message)
            XCTAssertTrue(message.contains("[PAD], [SOS], [EOS], [UNK]"), message)
            XCTAssertFalse(message.contains("\n"), message)
        }
        XCTAssertThrowsError(try WordTokenizer(vocabulary: ["[PAD]", "[SOS]"], minimumFrequency: 1))
        XCTAssertThrowsError(try WordTokenizer(vocabulary: ["[PAD]", "[SOS]", "[EOS]", "[UNK]", "a", "b", "a"], minimumFrequency: 1)) { error in
            XCTAssertTrue("\(error)".contains("entry 6 'a' repeats entry 4"), "\(error)")
        }
    }

    func testEncodingSpeed() {
        var random = TestRandom(seed: 7)
        let texts = TokenizerCorpus.sentences(count: 20_000, random: &random)
        let start = Date()
        let tokenizer = WordTokenizer.train(texts: texts, minimumFrequency: 2)
        let trained = Date()
        var tokens = 0
        for text in texts { tokens += tokenizer.encode(text).count }
        let encoded = Date()
        let bytes = texts.reduce(0) { $0 + $1.utf8.count }
        print(String(format: "word tokenizer: trained on %d sentences (%.1f MB) in %.3f s (%d words); encoded %d tokens in %.3f s (%.1f MB/s)",
                     texts.count, Double(bytes) / 1e6, trained.timeIntervalSince(start), tokenizer.count, tokens,
                     encoded.timeIntervalSince(trained), Double(bytes) / 1e6 / encoded.timeIntervalSince(trained)))
        XCTAssertGreaterThan(tokenizer.count, 1000)
    }
}

/// A generated corpus for tokenizer tests: words made of random syllables, drawn with Zipf's law,
/// in capitalised sentences with commas, contractions and end punctuation.
enum TokenizerCorpus {
    static func sentences(count: Int, lexiconSize: Int = 20_000, random: inout TestRandom) -> [String] {
        let syllables = ["ka", "to", "ri", "mo", "ne", "sa", "lu", "the", "an", "in", "er", "on", "qu", "es", "al",
                         "di", "ve", "po", "str", "ing", "ion", "ou", "ch", "é", "ü", "gr", "pl", "ta"]
        var lexicon: [String] = []
        var seen = Set<String>()
        while lexicon.count < lexiconSize {
            let length = 1 + Int(random.next() % 4)
            let word = (0 ..< length).map { _ in syllables[Int(random.next() % UInt64(syllables.count))] }.joined()
            if seen.insert(word).inserted { lexicon.append(word) }
        }
        // Zipf: P(rank r) ∝ 1 / (r + 1).
        var cumulative: [Double] = []
        var total = 0.0
        for rank in 0 ..< lexicon.count {
            total += 1 / Double(rank + 1)
            cumulative.append(total)
        }
        func word() -> String {
            let u = Double(random.next() >> 11) / Double(1 << 53) * total
            var low = 0, high = cumulative.count - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulative[middle] < u { low = middle + 1 } else { high = middle }
            }
            return lexicon[low]
        }
        return (0 ..< count).map { _ in
            let length = 5 + Int(random.next() % 11)
            var sentence = ""
            for k in 0 ..< length {
                var w = word()
                if k == 0 { w = w.prefix(1).uppercased() + w.dropFirst() }
                if k > 0 { sentence += random.next() % 12 == 0 ? ", " : " " }
                sentence += w
                if random.next() % 25 == 0 { sentence += ["'s", "'t", "'ll"][Int(random.next() % 3)] }
            }
            return sentence + [".", ".", ".", "!", "?"][Int(random.next() % 5)]
        }
    }
}
