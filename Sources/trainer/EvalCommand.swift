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

    @OptionGroup var threads: ThreadsOption

    func run() throws {
        try guarded { try Commands.evaluate(checkpoint: checkpoint.checkpoint, dataset: dataset, beam: beam, threads: threads.threads) }
    }
}
