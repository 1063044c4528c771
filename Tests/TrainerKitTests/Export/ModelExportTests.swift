import Foundation
import XCTest
import TrainerKit

/// `trainer export` from a checkpoint file: what the folder holds, and the outputs it refuses.
final class ModelExportTests: XCTestCase {
    var directory: String!
    let tokenizer = CharTokenizer(scalars: Set("abcdefgh \n".unicodeScalars.map(\.value)))

    override func setUpWithError() throws { directory = try makeTemporaryDirectory("export") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    /// A GPT checkpoint (2 layers, 8 channels) with random parameters; returns its path and store.
    func gptCheckpoint(activation: Activation = .geluTanh, name: String = "ckpt.h5") throws -> (String, ParameterStore) {
        let config = modelConfig(positions: 8, channels: 8, heads: 2, layers: 2, feedForward: 12, activation: activation)
        let parameters = GPTModel.layout(config, vocabulary: tokenizer.count).makeStore()
        randomize(parameters, seed: 3)
        let path = directory + "/" + name
        try writeCheckpoint(to: path, model: config, parameters: parameters, tokenizer: tokenizer.write(to:))
        return (path, parameters)
    }

    func testDefaultNamesAreOursWithDotsAndTheValuesBitForBit() throws {
        let (checkpoint, parameters) = try gptCheckpoint()
        let output = ModelExport.defaultOutput(checkpoint: checkpoint, names: .trainer)
        XCTAssertEqual(output, directory + "/ckpt-safetensors")
        let summary = try ModelExport.export(checkpoint: checkpoint, names: .trainer, output: output)
        XCTAssertEqual(summary.files, ["model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.json"])
        XCTAssertEqual(try folderContents(output), summary.files.sorted())
        XCTAssertEqual(try folderContents(directory), ["ckpt-safetensors", "ckpt.h5"], "no temporary folder left")
        XCTAssertEqual(summary.lines, ["exported \(parameters.entries.count) tensors (\(parameters.count) parameters, step 7) to \(output): model.safetensors, tokenizer.json, tokenizer_config.json, vocab.json"])

        let file = try ReadSafeTensors(path: output + "/model.safetensors")
        XCTAssertEqual(file.tensors.map(\.name), parameters.entries.map { $0.name.replacingOccurrences(of: "/", with: ".") })
        XCTAssertTrue(file.tensors.map(\.name).contains("blocks.1.attention.query.weight"))
        for (tensor, entry) in zip(file.tensors, parameters.entries) {
            XCTAssertEqual(tensor.shape, entry.shape, entry.name)
            let ours = UnsafeBufferPointer(start: parameters.values.pointer + entry.offset, count: entry.count)
            XCTAssertEqual(tensor.values.map(\.bitPattern), ours.map(\.bitPattern), entry.name)
        }
        let stored = try Checkpoint.Reader(path: checkpoint).header
        XCTAssertEqual(file.metadata["format"], "pt")
        XCTAssertEqual(file.metadata["trainer.names"], "trainer")
        XCTAssertEqual(file.metadata["trainer.step"], "7")
        XCTAssertEqual(file.metadata["trainer.model_kind"], "gpt")
        XCTAssertEqual(file.metadata["trainer.config"], stored.config)
    }

    func testGPT2NamesAddConfigJSON() throws {
        let (checkpoint, parameters) = try gptCheckpoint()
        let output = ModelExport.defaultOutput(checkpoint: checkpoint, names: .huggingfaceGPT2)
        XCTAssertEqual(output, directory + "/ckpt-huggingface-gpt2")
        let summary = try ModelExport.export(checkpoint: checkpoint, names: .huggingfaceGPT2, output: output)
        XCTAssertEqual(summary.files, ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json"])
        XCTAssertEqual(summary.tensors, 2 + 12 * 2 + 2)
        XCTAssertEqual(summary.scalars, parameters.count)
        let file = try ReadSafeTensors(path: output + "/model.safetensors")
        XCTAssertEqual(file.metadata["trainer.names"], "huggingface-gpt2")
        XCTAssertEqual(try file.tensor("transformer.h.1.attn.c_attn.weight").shape, [8, 24])
        XCTAssertEqual(file.tensors.reduce(0) { $0 + $1.values.count }, parameters.count)
        let config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "/config.json")))
            as? [String: Any])
        XCTAssertEqual(config["vocab_size"] as? Int, tokenizer.count)
        XCTAssertEqual(config["n_inner"] as? Int, 12)
        XCTAssertTrue(config["eos_token_id"] is NSNull, "a character tokenizer has no special tokens")
    }

    func testAnExportThatIsRefusedWritesNothing() throws {
        let (checkpoint, _) = try gptCheckpoint(activation: .gelu)
        let output = directory + "/out"
        XCTAssertThrowsError(try ModelExport.export(checkpoint: checkpoint, names: .huggingfaceGPT2, output: output)) { error in
            XCTAssertEqual((error as? TrainerError)?.message,
                           "\(checkpoint): export --names huggingface-gpt2 needs model.activation gelu_tanh (this checkpoint: gelu); export it without --names (our own tensor names), or train with --set model.activation=gelu_tanh")
        }
        XCTAssertThrowsError(try ModelExport.export(checkpoint: directory + "/missing.h5", names: .trainer, output: output)) { error in
            XCTAssertTrue(((error as? TrainerError)?.message ?? "").contains("missing.h5"), "\(error)")
        }
        XCTAssertEqual(try folderContents(directory), ["ckpt.h5"], "no output, no temporary folder")
    }

    func testAnExistingOutputIsReplacedOnlyWhenAskedAndOnlyIfItIsAnExport() throws {
        let (checkpoint, _) = try gptCheckpoint()
        let output = directory + "/out"
        // An empty folder is fine.
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: false)
        _ = try ModelExport.export(checkpoint: checkpoint, names: .trainer, output: output)
        let first = try Data(contentsOf: URL(fileURLWithPath: output + "/model.safetensors"))
        // A second export over it needs --overwrite, and leaves it alone without.
        XCTAssertThrowsError(try ModelExport.export(checkpoint: checkpoint, names: .huggingfaceGPT2, output: output)) { error in
            XCTAssertEqual((error as? TrainerError)?.message,
                           "\(output): already exists; pass --overwrite to replace it, or choose another --output")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output + "/model.safetensors")), first)
        // With it, the folder is the new export's, and nothing else.
        _ = try ModelExport.export(checkpoint: checkpoint, names: .huggingfaceGPT2, output: output, overwrite: true)
        XCTAssertEqual(try folderContents(output),
                       ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.json"])
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: output + "/model.safetensors")), first)
        XCTAssertEqual(try folderContents(directory), ["ckpt.h5", "out"], "no temporary or previous folder left")
        // A folder holding anything else is never replaced.
        try Data("mine".utf8).write(to: URL(fileURLWithPath: output + "/notes.txt"))
        XCTAssertThrowsError(try ModelExport.export(checkpoint: checkpoint, names: .trainer, output: output, overwrite: true)) { error in
            XCTAssertEqual((error as? TrainerError)?.message,
                           "\(output): holds notes.txt, which an export does not write; --overwrite replaces only the folder of an earlier export, so choose another --output")
        }
        XCTAssertThrowsError(try ModelExport.export(checkpoint: checkpoint, names: .trainer, output: checkpoint, overwrite: true)) { error in
            XCTAssertEqual((error as? TrainerError)?.message, "\(checkpoint): exists and is not a folder; choose another --output")
        }
    }

    func testATranslationCheckpointExportsWithItsTwoTokenizers() throws {
        var config = modelConfig(positions: 8, channels: 8, heads: 2, layers: 1, feedForward: 12)
        config.kind = .seq2seq
        let source = WordTokenizer.train(texts: ["the cat sleeps .", "the dog runs !"], minimumFrequency: 1)
        let target = WordTokenizer.train(texts: ["il gatto dorme .", "il cane corre !"], minimumFrequency: 1)
        let parameters = Seq2SeqModel.layout(config, sourceVocabulary: source.count, targetVocabulary: target.count).makeStore()
        randomize(parameters, seed: 4)
        let checkpoint = directory + "/seq2seq.h5"
        try writeCheckpoint(to: checkpoint, model: config, parameters: parameters) { group in
            try TokenizerPair(source: source, target: target, shared: false).write(to: group)
        }
        let output = directory + "/out"
        let summary = try ModelExport.export(checkpoint: checkpoint, names: .trainer, output: output)
        XCTAssertEqual(try folderContents(output), ["model.safetensors", "source_tokenizer", "target_tokenizer"])
        XCTAssertEqual(try folderContents(output + "/target_tokenizer"), ["tokenizer.json", "tokenizer_config.json", "vocab.json"])
        let vocabulary = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: output + "/target_tokenizer/vocab.json"))) as? [String: Int])
        XCTAssertEqual(vocabulary["gatto"], target.vocabulary.firstIndex(of: "gatto"))
        XCTAssertEqual(summary.notes.count, 2, "the word tokenizers' decoding differs: \(summary.notes)")
        let file = try ReadSafeTensors(path: output + "/model.safetensors")
        XCTAssertEqual(file.tensors.map(\.name), parameters.entries.map { $0.name.replacingOccurrences(of: "/", with: ".") })
        XCTAssertTrue(file.tensors.map(\.name).contains("decoder.blocks.0.cross_attention.key.weight"))
        XCTAssertThrowsError(try ModelExport.export(checkpoint: checkpoint, names: .huggingfaceGPT2, output: directory + "/hf")) { error in
            XCTAssertTrue(((error as? TrainerError)?.message ?? "").contains("needs model.kind gpt (this checkpoint: seq2seq)"))
        }
    }
}
