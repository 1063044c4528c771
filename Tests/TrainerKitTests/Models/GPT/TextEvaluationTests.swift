import Foundation
import XCTest
import TrainerKit

/// `eval --text`: every character scored once with the checkpoint's tokenizer, unknown characters
/// skipped and counted, the same loss whatever the batching of the windows.
final class TextEvaluationTests: XCTestCase {
    func testWindowsScoreEveryTargetOnceAndSkipUnknownCharacters() throws {
        let directory = try makeTemporaryDirectory("text-eval")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tokenizer = CharTokenizer(scalars: Set("abcdefgh \n".unicodeScalars.map(\.value)))
        let config = modelConfig(positions: 8, channels: 16, heads: 2, layers: 1, feedForward: 32)
        func model(batch: Int, sharing parameters: ParameterStore? = nil) -> GPTModel {
            let model = GPTModel(config: config, vocabulary: tokenizer.count, limits: ActivationLimits(batch: batch, time: 8),
                                 parameters: parameters)
            if parameters == nil { model.initialize(seed: 3) }
            return model
        }
        // Two files with 3 unknown characters (é twice, €).
        let texts = ["abc defg\nhabcé dd\n", "gggfedcba €hhhh aab\neécadef\n"]
        let first = try writeText(texts[0], "one.txt", in: directory)
        let second = try writeText(texts[1], "two.txt", in: directory)
        let total = texts.map { $0.unicodeScalars.count }.reduce(0, +), targets = total - 3 - 1
        let batched = model(batch: 8)
        let result = try TextEvaluation.run(files: [first, second], model: batched, tokenizer: tokenizer, window: 8,
                                            parallelism: .serial)
        XCTAssertEqual(result.characters, total)
        XCTAssertEqual(result.scored, targets, "every known character but the first is a target once")
        XCTAssertEqual(result.windows, (targets + 7) / 8, "windows of 8 targets, the last one shorter")
        XCTAssertNotEqual(targets % 8, 0, "the test must have a shorter last window")
        XCTAssertEqual(result.unknown.map(\.character), ["é", "€"])
        XCTAssertEqual(result.unknown.map(\.count), [2, 1])
        // One window at a time (batch 1) gives the same loss.
        let single = try TextEvaluation.run(files: [first, second], model: model(batch: 1, sharing: batched.parameters),
                                            tokenizer: tokenizer, window: 8, parallelism: .serial)
        XCTAssertEqual(single.loss, result.loss, accuracy: 1e-6)
        XCTAssertTrue(result.loss > 0 && result.loss.isFinite)
        XCTAssertEqual(result.bitsPerCharacter, result.loss / log(2), accuracy: 1e-12)
        XCTAssertTrue(result.describe(files: ["one.txt"], window: 8).contains("skipped 3 characters outside the checkpoint's vocabulary (2 × \"é\", 1 × \"€\")"))
        // Not UTF-8 text is refused, naming the file.
        let latin1 = directory + "/latin1.txt"
        XCTAssertTrue(FileManager.default.createFile(atPath: latin1, contents: Data([0x61, 0x62, 0xE9, 0x0A])))
        XCTAssertThrowsError(try TextEvaluation.run(files: [latin1], model: batched, tokenizer: tokenizer, window: 8,
                                                    parallelism: .serial)) { error in
            XCTAssertTrue(((error as? TrainerError)?.message ?? "").contains("latin1.txt: not UTF-8 text (byte 0xE9 at offset 2)"))
        }
    }

    /// `score` over a stream read range by range (`eval --full`): consecutive windows, each target
    /// once, the same loss as scoring each window on its own; the ranges read cover the stream.
    func testScoreCoversAStreamInConsecutiveWindows() throws {
        let config = modelConfig(positions: 8, channels: 16, heads: 2, layers: 1, feedForward: 32)
        let model = GPTModel(config: config, vocabulary: 11, limits: ActivationLimits(batch: 3, time: 8))
        model.initialize(seed: 4)
        var random = TestRandom(seed: 4)
        let stream = random.tokens(45, below: 11)  // 44 targets: 5 windows of 8 and one of 4
        var ranges: [Range<Int>] = []
        let scores = try TextEvaluation.score(count: stream.count, read: { ranges.append($0); return Array(stream[$0]) },
                                              model: model, window: 8, parallelism: .serial)
        XCTAssertEqual(scores.windows, 6)
        XCTAssertEqual(scores.scored, 44)
        XCTAssertEqual(ranges, [0 ..< 25, 24 ..< 41, 40 ..< 45], "batches of 3 and 2 full windows, then the short one")
        var reference = 0.0
        for start in stride(from: 0, to: 44, by: 8) {
            let length = min(8, 44 - start)
            reference += model.forward(tokens: Array(stream[start ..< start + length]),
                                       targets: Array(stream[start + 1 ..< start + 1 + length]), batch: 1, time: length,
                                       parallelism: .serial)!.sum
        }
        XCTAssertEqual(scores.sum, reference, accuracy: 1e-4 * abs(reference))
    }
}
