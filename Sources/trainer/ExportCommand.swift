import ArgumentParser
import Foundation
import TrainerKit

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's weights for PyTorch / Hugging Face: safetensors, tokenizer files, and with GPT-2's names a config.json.",
        discussion: """
            --names trainer (default): our tensor names with '.' for '/', any checkpoint. --names huggingface-gpt2: \
            a GPT with activation gelu_tanh and tied embeddings as a transformers GPT2LMHeadModel folder \
            (GPT2LMHeadModel.from_pretrained(folder)).
            """)

    @OptionGroup var checkpoint: CheckpointOption

    @Option(help: "File format: \(ModelExport.Format.allCases.map(\.rawValue).joined(separator: " | ")).")
    var format = ModelExport.Format.safetensors.rawValue

    @Option(help: "Tensor names: \(ModelExport.Names.allCases.map(\.rawValue).joined(separator: " | ")).")
    var names = ModelExport.Names.trainer.rawValue

    @Option(help: "Output folder (default: next to the checkpoint, <name>-safetensors or <name>-huggingface-gpt2).")
    var output: String?

    @Flag(help: "Replace the output folder of an earlier export.")
    var overwrite = false

    func validate() throws {
        guard ModelExport.Format(rawValue: format) != nil else {
            throw ValidationError("--format \(format) is unknown (\(ModelExport.Format.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard ModelExport.Names(rawValue: names) != nil else {
            throw ValidationError("--names \(names) is unknown (\(ModelExport.Names.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if output?.isEmpty == true { throw ValidationError("--output is empty; give a folder") }
    }

    func run() throws {
        try guarded {
            let names = ModelExport.Names(rawValue: names) ?? .trainer
            let folder = output ?? ModelExport.defaultOutput(checkpoint: checkpoint.checkpoint, names: names)
            let summary = try ModelExport.export(checkpoint: checkpoint.checkpoint, names: names, output: folder,
                                                 overwrite: overwrite)
            for line in summary.lines { print(line) }
        }
    }
}
