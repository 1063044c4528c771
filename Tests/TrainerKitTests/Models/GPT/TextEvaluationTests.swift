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
}
