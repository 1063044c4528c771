import Foundation
import XCTest
import TrainerKit

final class PrepareTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory("prepare") }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func write(_ text: String, _ name: String) throws -> String { try writeText(text, name, in: directory) }

    func readAll(_ dataset: TokenDataset, _ split: TokenDataset.Split) throws -> [Int32] {
        var ids = [Int32](repeating: 0, count: dataset.counts[split]!)
        try ids.withUnsafeMutableBufferPointer { try dataset.read(split, offset: 0, count: $0.count, into: $0.baseAddress!) }
        return ids
    }

    func testCharDatasetRoundTripsTheTextAcrossChunkBoundaries() throws {
        let text = String(repeating: "Thé quïck brown 🦊, jumps!\n", count: 40)
        let first = try write(text, "a.txt"), second = try write("Zzz\n", "b.txt")
        let output = directory + "/data.h5"
        // 7-byte chunks cut multi-byte characters (é, ï, 🦊) in the middle.
        let report = try Prepare.prepareLanguageModel(inputs: [first, second], output: output, chunkBytes: 7)
        let dataset = try TokenDataset(path: output)
        let tokenizer = dataset.tokenizer
        XCTAssertEqual(tokenizer.kind, "char")
        XCTAssertEqual(tokenizer.vocabulary, Set((text + "Zzz\n").unicodeScalars.map { String($0) }).sorted {
            $0.unicodeScalars.first!.value < $1.unicodeScalars.first!.value })
        let total = (text + "Zzz\n").unicodeScalars.count
        XCTAssertEqual(dataset.counts[.train]! + dataset.counts[.val]!, total)
        XCTAssertEqual(dataset.counts[.train]!, Int(Double(total) * 0.9))
        XCTAssertEqual(report.trainTokens, dataset.counts[.train]!)
        let decoded = tokenizer.decode(try readAll(dataset, .train) + readAll(dataset, .val))
        XCTAssertEqual(decoded, text + "Zzz\n")
        // Attributes of the layout in ARCHITECTURE.md, "Dataset".
        let file = try HDF5File(path: output, mode: .readOnly)
        XCTAssertEqual(try file.stringAttribute("format"), "trainer-dataset")
        XCTAssertEqual(try file.intAttribute("format_version"), 1)
        XCTAssertEqual(try file.stringAttribute("kind"), "lm")
        XCTAssertEqual(try file.stringArrayAttribute("sources").count, 2)
        var hash = SHA256()
        hash.update(Array("Zzz\n".utf8))
        XCTAssertEqual(try file.stringArrayAttribute("sources_sha256")[1], hash.hexDigest())
        XCTAssertEqual(try file.dataset("train/tokens").elementDescription, "uint16")
        XCTAssertNoThrow(try file.stringAttribute("created_utc"))
    }

    func testTheBuiltInCorpusIsTheShippedFileAndPreparesByName() throws {
        // The bytes in the binary are those of Sources/TrainerKit/Resources/shakespeare.txt.
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../Sources/TrainerKit/Resources/shakespeare.txt").standardizedFileURL
        let file = try Data(contentsOf: shipped)
        XCTAssertEqual(BuiltinCorpus.shakespeare.count, file.count)
        XCTAssertTrue(Data(BuiltinCorpus.shakespeare) == file, "the embedded corpus differs from \(shipped.path)")

        // `builtin:shakespeare.txt` prepares the same dataset as the file, and is recorded by name.
        // Small chunks: the stream over the embedded bytes carries characters across chunks too.
        let fromName = directory + "/builtin.h5", fromFile = directory + "/file.h5"
        _ = try Prepare.prepareLanguageModel(inputs: [BuiltinCorpus.shakespeareName], output: fromName, chunkBytes: 1 << 16)
        _ = try Prepare.prepareLanguageModel(inputs: [shipped.path], output: fromFile)
        let named = try TokenDataset(path: fromName), plain = try TokenDataset(path: fromFile)
        XCTAssertEqual(named.tokenizer.vocabulary, plain.tokenizer.vocabulary)
        XCTAssertEqual(try readAll(named, .train), try readAll(plain, .train))
        XCTAssertEqual(try readAll(named, .val), try readAll(plain, .val))
        let header = try HDF5File(path: fromName, mode: .readOnly), reference = try HDF5File(path: fromFile, mode: .readOnly)
        XCTAssertEqual(try header.stringArrayAttribute("sources"), ["builtin:shakespeare.txt"])
        XCTAssertEqual(try header.stringArrayAttribute("sources_sha256"), try reference.stringArrayAttribute("sources_sha256"))
    }

    func testBadInputsAreOneLineErrorsAndKeepTheOldDataset() throws {
        let output = directory + "/data.h5"
        _ = try Prepare.prepareLanguageModel(inputs: [try write("hello world\n", "ok.txt")], output: output)
        let before = try Data(contentsOf: URL(fileURLWithPath: output))
        XCTAssertThrowsError(try Prepare.prepareLanguageModel(inputs: [directory + "/missing.txt"], output: output)) {
            XCTAssertEqual("\($0)", "prepare: \(self.directory!)/missing.txt: no such file")
        }
        let empty = try write("", "empty.txt")
        XCTAssertThrowsError(try Prepare.prepareLanguageModel(inputs: [empty], output: output)) {
            XCTAssertEqual("\($0)", "prepare: \(empty): empty corpus (0 bytes)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output)), before, "the existing dataset is untouched")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".tmp-") }, [])
    }

    func testSamplingIsAFunctionOfTheStreamAndIdsAreChecked() throws {
        let output = directory + "/data.h5"
        _ = try Prepare.prepareLanguageModel(inputs: [try write(String(repeating: "abcdefghij", count: 100), "t.txt")],
                                             output: output)
        let dataset = try TokenDataset(path: output)
        func batch(_ stream: RandomStream) throws -> [Int32] {
            var inputs = [Int32](repeating: 0, count: 3 * 8), targets = inputs
            try dataset.sample(.train, sequences: 3, length: 8, stream: stream, inputs: &inputs, targets: &targets)
            // Targets are the inputs shifted by one.
            for j in 0 ..< 3 { XCTAssertEqual(Array(inputs[j * 8 + 1 ..< j * 8 + 8]), Array(targets[j * 8 ..< j * 8 + 7])) }
            return inputs + targets
        }
        XCTAssertEqual(try batch(RandomStream(seed: 1, 2, 3, 4)), try batch(RandomStream(seed: 1, 2, 3, 4)))
        XCTAssertNotEqual(try batch(RandomStream(seed: 1, 2, 3, 4)), try batch(RandomStream(seed: 1, 2, 4, 4)))

        // A dataset with an id outside its vocabulary is refused with the position named.
        let bad = directory + "/bad.h5"
        try FileManager.default.copyItem(atPath: output, toPath: bad)
        let file = try HDF5File(path: bad, mode: .readWrite)
        try [UInt16(999)].withUnsafeBufferPointer { try file.dataset("train/tokens").write($0, offset: [5], count: [1]) }
        try file.close()
        let badDataset = try TokenDataset(path: bad)
        var ids = [Int32](repeating: 0, count: 10)
        XCTAssertThrowsError(try badDataset.read(.train, offset: 0, count: 10, into: &ids)) {
            XCTAssertEqual("\($0)", "\(bad): token id 999 at train[5] is outside the vocabulary of 10")
        }
        XCTAssertThrowsError(try TokenDataset(path: directory + "/nope.h5")) {
            XCTAssertEqual("\($0)", "\(self.directory!)/nope.h5: no such file")
        }
    }
}

final class TokenDatasetChunkTests: XCTestCase {
    /// Windows that straddle the 65,536-token chunks of the compressed dataset read the right tokens.
    func testWindowsAcrossChunkBoundaries() throws {
        let directory = try makeTemporaryDirectory("chunks")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var text = ""
        var random = TestRandom(seed: 5)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz ,.\n")
        for _ in 0 ..< 300_000 { text.append(alphabet[Int(random.next() % UInt64(alphabet.count))]) }
        try text.write(toFile: directory + "/c.txt", atomically: true, encoding: .utf8)
        _ = try Prepare.prepareLanguageModel(inputs: [directory + "/c.txt"], output: directory + "/c.h5")
        let dataset = try TokenDataset(path: directory + "/c.h5")
        let all = Array(text.unicodeScalars).map { scalar in Int32(dataset.tokenizer.encode(String(scalar))[0]) }
        for offset in [65_530, 131_070, 196_600, 12_345, 270_000 - 70] {
            var window = [Int32](repeating: -1, count: 65)
            try dataset.read(.train, offset: offset, count: 65, into: &window)
            XCTAssertEqual(window, Array(all[offset ..< offset + 65]), "window at \(offset)")
        }
    }
}
