import Foundation
import XCTest
import TrainerKit

/// The tokenizer files' contents (what `tokenizers` makes of them is checked by
/// HuggingFaceReferenceTests, when Python has the libraries).
final class HuggingFaceTokenizerTests: XCTestCase {
    func json(_ files: [(name: String, contents: String)], _ name: String) throws -> [String: Any] {
        let text = try XCTUnwrap(files.first { $0.name == name }?.contents, "no \(name)")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func testBPEIsAByteLevelBPEModelWithItsMergesInRankOrder() throws {
        let bpe = BPETokenizer.train(texts: ["the cat sat on the mat, the cat's hat", "naïve café 日本"], vocabularySize: 290,
                                     minimumFrequency: 1)
        XCTAssertGreaterThan(bpe.merges.count, 5)
        let files = HuggingFaceTokenizer.files(for: bpe, maximumLength: 64)
        XCTAssertEqual(files.map(\.name), ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"])
        let tokenizer = try json(files, "tokenizer.json")
        let model = try XCTUnwrap(tokenizer["model"] as? [String: Any])
        XCTAssertEqual(model["type"] as? String, "BPE")
        XCTAssertEqual(model["vocab"] as? [String: Int],
                       Dictionary(uniqueKeysWithValues: bpe.vocabulary.enumerated().map { ($1, $0) }))
        XCTAssertEqual(model["merges"] as? [[String]], bpe.mergeLines.map { $0.components(separatedBy: " ") })
        XCTAssertTrue(model["unk_token"] is NSNull)
        for key in ["pre_tokenizer", "decoder"] {
            let part = try XCTUnwrap(tokenizer[key] as? [String: Any], key)
            XCTAssertEqual(part["type"] as? String, "ByteLevel", key)
            XCTAssertEqual(part["add_prefix_space"] as? Bool, false, key)
            XCTAssertEqual(part["use_regex"] as? Bool, true, key)
        }
        let added = try XCTUnwrap(tokenizer["added_tokens"] as? [[String: Any]])
        XCTAssertEqual(added.map { $0["id"] as? Int }, [0, 1, 2, 3])
        XCTAssertEqual(added.map { $0["content"] as? String }, ["[PAD]", "[SOS]", "[EOS]", "[UNK]"])
        XCTAssertTrue(added.allSatisfy { $0["special"] as? Bool == true })
        let merges = try XCTUnwrap(files.first { $0.name == "merges.txt" }?.contents)
        XCTAssertEqual(merges, "#version: 0.2\n" + bpe.mergeLines.joined(separator: "\n") + "\n")
        let config = try json(files, "tokenizer_config.json")
        XCTAssertEqual(config["tokenizer_class"] as? String, "PreTrainedTokenizerFast")
        XCTAssertEqual(config["eos_token"] as? String, "[EOS]")
        XCTAssertEqual(config["model_max_length"] as? Int, 64)
        XCTAssertEqual(config["split_special_tokens"] as? Bool, true)
        XCTAssertEqual(config["clean_up_tokenization_spaces"] as? Bool, false)
        XCTAssertEqual(config["model_input_names"] as? [String], ["input_ids", "attention_mask"])
        // vocab.json lists the tokens in id order.
        let vocabulary = try XCTUnwrap(files.first { $0.name == "vocab.json" }?.contents)
        let positions = bpe.vocabulary.map { vocabulary.range(of: JSONText.quoted($0) + ": ")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted())
    }

    func testCharIsOneTokenPerScalarWithoutMergesOrSpecials() throws {
        let chars = CharTokenizer(scalars: Set("ab \n\"\\é😀".unicodeScalars.map(\.value)))
        let files = HuggingFaceTokenizer.files(for: chars, maximumLength: 16)
        XCTAssertEqual(files.map(\.name), ["tokenizer.json", "tokenizer_config.json", "vocab.json"])
        let tokenizer = try json(files, "tokenizer.json")
        let model = try XCTUnwrap(tokenizer["model"] as? [String: Any])
        XCTAssertEqual(model["type"] as? String, "BPE")
        XCTAssertEqual(model["vocab"] as? [String: Int],
                       Dictionary(uniqueKeysWithValues: chars.vocabulary.enumerated().map { ($1, $0) }))
        XCTAssertEqual((model["merges"] as? [Any])?.count, 0)
        XCTAssertTrue(tokenizer["pre_tokenizer"] is NSNull)
        XCTAssertEqual((tokenizer["decoder"] as? [String: Any])?["type"] as? String, "Fuse")
        XCTAssertEqual((tokenizer["added_tokens"] as? [Any])?.count, 0)
        XCTAssertNil(try json(files, "tokenizer_config.json")["eos_token"])
    }

    func testWordIsAWordLevelModelBehindTheWhitespacePreTokenizer() throws {
        let words = WordTokenizer.train(texts: ["the cat sat , the dog ran !"], minimumFrequency: 1)
        let tokenizer = try json(HuggingFaceTokenizer.files(for: words, maximumLength: 16), "tokenizer.json")
        let model = try XCTUnwrap(tokenizer["model"] as? [String: Any])
        XCTAssertEqual(model["type"] as? String, "WordLevel")
        XCTAssertEqual(model["unk_token"] as? String, "[UNK]")
        XCTAssertEqual(model["vocab"] as? [String: Int],
                       Dictionary(uniqueKeysWithValues: words.vocabulary.enumerated().map { ($1, $0) }))
        XCTAssertEqual((tokenizer["pre_tokenizer"] as? [String: Any])?["type"] as? String, "Whitespace")
        XCTAssertEqual((tokenizer["added_tokens"] as? [[String: Any]])?.map { $0["content"] as? String },
                       ["[PAD]", "[SOS]", "[EOS]", "[UNK]"])
    }
}
