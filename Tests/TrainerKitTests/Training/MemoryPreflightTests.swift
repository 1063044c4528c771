import Foundation
import XCTest
import TrainerKit

/// The memory estimate made before allocating: close to the real parameter count, and a clear
/// refusal for sizes that cannot fit.
final class MemoryPreflightTests: XCTestCase {
    func testParameterEstimateMatchesTheModels() throws {
        for (kind, tie) in [("gpt", true), ("gpt", false), ("seq2seq", true)] {
            let config = try ConfigLoader.load(path: nil, overrides: [
                "model.kind=\(kind)", "model.layers=3", "model.heads=4", "model.channels=64", "model.positions=32",
                "model.tie_embeddings=\(tie)", "data.block_size=32",
            ])
            let estimate = MemoryPreflight.estimate(config: config, vocabulary: 100, sourceVocabulary: 90)
            let actual: Int
            if kind == "gpt" {
                actual = GPTModel(config: config.resolvedModel, vocabulary: 100, limits: ActivationLimits(batch: 1, time: 32))
                    .parameters.count
            } else {
                actual = Seq2SeqModel(config: config.resolvedModel, sourceVocabulary: 90, targetVocabulary: 100, batch: 1,
                                      sourceLength: 32, targetLength: 32).parameters.count
            }
            XCTAssertEqual(estimate.parameters / Double(actual), 1, accuracy: 0.05, "\(kind), tied \(tie): \(estimate.parameters) vs \(actual)")
        }
    }

    func testSizesThatCannotFitAreRefusedNamingTheKey() throws {
        try XCTSkipIf(MemoryPreflight.available() == nil, "no /proc/meminfo or cgroup limit to compare with")
        let wide = try ConfigLoader.load(path: nil, overrides: ["model.channels=200000", "model.heads=8"])
        XCTAssertThrowsError(try MemoryPreflight.check(MemoryPreflight.estimate(config: wide, vocabulary: 65))) { error in
            let message = (error as? TrainerError)?.message ?? ""
            XCTAssertTrue(message.hasPrefix("config: training needs about "), message)
            XCTAssertTrue(message.contains("lower model.channels or model.layers"), message)
        }
        let long = try ConfigLoader.load(path: nil, overrides: ["data.block_size=64", "data.batch_size=100000000", "data.micro_batch_size=100000000"])
        XCTAssertThrowsError(try MemoryPreflight.check(MemoryPreflight.estimate(config: long, vocabulary: 65))) { error in
            XCTAssertTrue(((error as? TrainerError)?.message ?? "").contains("lower data.micro_batch_size or data.block_size"))
        }
        // The default config fits, also as one of four ranks.
        let standard = try ConfigLoader.load(path: nil, overrides: [])
        XCTAssertNoThrow(try MemoryPreflight.check(MemoryPreflight.estimate(config: standard, vocabulary: 65), ranksOnMachine: 4))
    }
}
