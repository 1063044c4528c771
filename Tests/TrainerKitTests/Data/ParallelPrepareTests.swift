import Foundation
import XCTest
import TrainerKit

final class ParallelPrepareTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory("parallel") }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func write(_ text: String, _ name: String) throws -> String { try writeText(text, name, in: directory) }

    func testTSVWithMalformedEmptyAndLongLines() throws {
        var lines = ToyTranslation.corpus(count: 200).map { $0 + "\tCC-BY 2.0 (France) Attribution: tatoeba.org" }
        lines.append("just one column")
        lines.append("\tempty source")
        lines.append("empty target\t  ")
        lines.append(String(repeating: "the cat ", count: 40) + "\til gatto")
        let tsv = try write(lines.joined(separator: "\r\n") + "\n", "pairs.tsv")
        var options = ParallelPrepareOptions()
        options.maximumLength = 24
        options.minimumFrequency = 1
        let output = directory + "/pairs.h5"
        let report = try ParallelPrepare.prepare(inputs: [tsv], output: output, options: options)
        XCTAssertEqual(report.lines, 204)
        XCTAssertEqual(report.malformed, 1)
        XCTAssertEqual(report.empty, 2)
        XCTAssertEqual(report.tooLong, 1)
        XCTAssertEqual(report.trainPairs + report.validationPairs, 200)
        XCTAssertEqual(report.validationPairs, 20)
        let dataset = try ParallelDataset(path: output)
        XCTAssertFalse(dataset.tokenizers.shared)
        XCTAssertEqual(dataset.counts[.train], report.trainPairs)
        // Every stored pair decodes back to its stored text (modulo the word tokenizer's spacing).
        let sources = try dataset.texts(.val, .source), targets = try dataset.texts(.val, .target)
        for i in 0 ..< dataset.counts[.val]! {
            XCTAssertEqual(dataset.sourceTokenizer.decode(try dataset.sentence(.val, .source, i)), sources[i])
            XCTAssertEqual(dataset.targetTokenizer.decode(try dataset.sentence(.val, .target, i)), targets[i])
            XCTAssertEqual(dataset.length(.val, .target, i), try dataset.sentence(.val, .target, i).count)
        }
        // The third column (attribution) is ignored.
        XCTAssertFalse(dataset.sourceTokenizer.vocabulary.contains("tatoeba"))
        let file = try HDF5File(path: output, mode: .readOnly)
        XCTAssertEqual(try file.stringAttribute("kind"), "parallel")
        XCTAssertEqual(try file.dataset("train/source/offsets").elementDescription, "int64")
        XCTAssertEqual(try file.group("tokenizer").stringAttribute("shared"), "false")
        XCTAssertEqual(try file.group("tokenizer/source").stringAttribute("kind"), "word")
    }

    func testAlignedFilesSharedBPEAndErrors() throws {
        let pairs = ToyTranslation.corpus(count: 300).map { $0.split(separator: "\t").map(String.init) }
        let english = try write(pairs.map { $0[0] }.joined(separator: "\n"), "train.en")
        let italian = try write(pairs.map { $0[1] }.joined(separator: "\n"), "train.it")
        var options = ParallelPrepareOptions()
        options.tokenizer = "bpe"
        options.vocabularySize = 400
        options.sharedVocabulary = true
        let output = directory + "/aligned.h5"
        let report = try ParallelPrepare.prepare(inputs: [english, italian], output: output, options: options)
        XCTAssertEqual(report.trainPairs, 270)
        let dataset = try ParallelDataset(path: output)
        XCTAssertTrue(dataset.tokenizers.shared)
        XCTAssertEqual(dataset.sourceTokenizer.kind, "bpe")
        XCTAssertTrue(dataset.sourceTokenizer.matches(dataset.targetTokenizer))
        let texts = try dataset.texts(.train, .target)
        XCTAssertEqual(dataset.targetTokenizer.decode(try dataset.sentence(.train, .target, 7)), texts[7], "BPE round-trips exactly")

        let short = try write("one\ntwo\n", "short.it")
        XCTAssertThrowsError(try ParallelPrepare.prepare(inputs: [english, short], output: output, options: options)) {
            XCTAssertEqual("\($0)", "prepare: \(english) has 300 lines but \(short) has 2; aligned files need one sentence per line each")
        }
        options.vocabularySize = 100
        XCTAssertThrowsError(try ParallelPrepare.prepare(inputs: [english, italian], output: output, options: options)) {
            XCTAssertTrue("\($0)".contains("--vocab-size above 260"), "\($0)")
        }
        // The failed runs left the earlier dataset intact.
        XCTAssertEqual(try ParallelDataset(path: output).counts[.train], 270)
        XCTAssertThrowsError(try ParallelDataset(path: try {
            _ = try Prepare.prepareLanguageModel(inputs: [english], output: directory + "/lm.h5")
            return directory + "/lm.h5"
        }())) {
            XCTAssertTrue("\($0)".contains("a 'lm' dataset, but a translation model needs 'parallel'"), "\($0)")
        }
    }

    /// `--test-fraction`: a test split drawn by the same seeded shuffle, after the validation
    /// pairs, so the validation split is the one a file without a test split has; the three splits
    /// partition the pairs; files without one still load (0 test pairs).
    func testTestFractionHoldsOutATestSplitAndLeavesTheValidationSplitAlone() throws {
        let tsv = try write(ToyTranslation.corpus(count: 400).joined(separator: "\n") + "\n", "pairs.tsv")
        var options = ParallelPrepareOptions()
        options.minimumFrequency = 1
        let plainPath = directory + "/plain.h5", testedPath = directory + "/tested.h5"
        let plainReport = try ParallelPrepare.prepare(inputs: [tsv], output: plainPath, options: options)
        options.testFraction = 0.15
        let report = try ParallelPrepare.prepare(inputs: [tsv], output: testedPath, options: options)
        XCTAssertFalse(plainReport.hasTestSplit)
        XCTAssertFalse(plainReport.description.contains("test"), plainReport.description)
        XCTAssertEqual(report.testPairs, 60)
        XCTAssertEqual(report.validationPairs, 40)
        XCTAssertEqual(report.trainPairs, 300)
        XCTAssertTrue(report.description.contains(": 300 train + 40 val + 60 test pairs from 400 lines"), report.description)

        let plain = try ParallelDataset(path: plainPath), tested = try ParallelDataset(path: testedPath)
        XCTAssertFalse(plain.hasTestSplit)
        XCTAssertEqual(plain.counts[.test], 0)
        XCTAssertTrue(tested.hasTestSplit)
        XCTAssertEqual(tested.counts[.test], 60)
        XCTAssertEqual(try tested.texts(.val, .source), try plain.texts(.val, .source), "the same validation pairs")
        var seen = Set<String>()
        for split in TokenDataset.Split.allCases {
            let sources = try tested.texts(split, .source), targets = try tested.texts(split, .target)
            XCTAssertEqual(sources.count, tested.counts[split])
            for (source, target) in zip(sources, targets) { seen.insert(source + "\t" + target) }
            for i in 0 ..< tested.counts[split]! {
                XCTAssertEqual(tested.targetTokenizer.decode(try tested.sentence(split, .target, i)), targets[i])
            }
        }
        let distinct = Set(ToyTranslation.corpus(count: 400))
        XCTAssertEqual(seen, distinct, "train, val and test partition the pairs")
        XCTAssertEqual(try plain.texts(.train, .source).count - 60, try tested.texts(.train, .source).count)

        // The longest sequence the model sees: [SOS] source [EOS] or [SOS] target, over every split.
        var longest = 0
        for split in TokenDataset.Split.allCases {
            for i in 0 ..< tested.counts[split]! {
                longest = max(longest, try tested.sentence(split, .source, i).count + 2, try tested.sentence(split, .target, i).count + 1)
            }
        }
        XCTAssertEqual(tested.longestSequence, longest)

        for (validation, test) in [(0.5, 0.5), (0.1, 1.0), (0.0, -0.1)] {
            options.validationFraction = validation
            options.testFraction = test
            XCTAssertThrowsError(try ParallelPrepare.prepare(inputs: [tsv], output: directory + "/bad.h5", options: options)) {
                XCTAssertTrue("\($0)".hasPrefix("prepare: --"), "\($0)")
            }
        }
    }
}
