import ArgumentParser
import Foundation
import TrainerKit

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint: loss and perplexity; BLEU, chrF, CER and WER for translation.")

    @OptionGroup var checkpoint: CheckpointOption

    @Option(help: "Dataset (default: the one the checkpoint was trained on).")
    var dataset: String?

    @Option(help: "Translation: beam size for BLEU (default: the config's eval.beam).")
    var beam: Int?

    @Option(parsing: .upToNextOption,
            help: "GPT: score these text files instead, with the checkpoint's own tokenizer (loss, perplexity, bits per character).")
    var text: [String] = []

    @Flag(help: "GPT: score every target of the validation split once, in consecutive windows of block_size, instead of eval.batches batches of random windows.")
    var full = false

    @OptionGroup var threads: ThreadsOption

    func validate() throws {
        if !text.isEmpty && (dataset != nil || beam != nil || full) {
            throw ValidationError("--text goes without --dataset, --beam and --full")
        }
    }

    func run() throws {
        try guarded {
            if text.isEmpty {
                try Commands.evaluate(checkpoint: checkpoint.checkpoint, dataset: dataset, beam: beam, full: full,
                                      threads: threads.threads)
            } else {
                try Commands.evaluateText(checkpoint: checkpoint.checkpoint, files: text, threads: threads.threads)
            }
        }
    }
}
