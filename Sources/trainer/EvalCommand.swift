import ArgumentParser
import Foundation
import TrainerKit

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint: loss and perplexity; BLEU, chrF, CER and WER for translation.",
        discussion: """
            On its dataset (found from any folder; --dataset for another) --split val (default) or test; \
            a GPT on any text with --text FILE...; a translator on any sentence pairs with --pairs FILE.tsv \
            (or --pairs sources.txt references.txt). With label smoothing, the loss is the smoothed one \
            training minimises, and perplexity is exp of the unsmoothed cross-entropy (both are printed).
            """)

    @OptionGroup var checkpoint: CheckpointOption

    @Option(help: "Dataset (default: the one the checkpoint was trained on).")
    var dataset: String?

    @Option(help: "The split to score: val or test (translation datasets prepared with --test-fraction).")
    var split = "val"

    @Option(help: "Translation: beam size for BLEU (default: the config's eval.beam).")
    var beam: Int?

    @Option(parsing: .upToNextOption,
            help: "Translation: score these sentence pairs instead, one TSV file (source<TAB>reference) or two aligned files (sources, references), with the checkpoint's own tokenizers.")
    var pairs: [String] = []

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
        if !pairs.isEmpty && full { throw ValidationError("--full goes with a dataset, not --pairs") }
        if !text.isEmpty && !pairs.isEmpty { throw ValidationError("--text and --pairs are two different evaluations; give one") }
        if !pairs.isEmpty && dataset != nil { throw ValidationError("--pairs goes without --dataset") }
        if !(1 ... 2).contains(pairs.count) && !pairs.isEmpty {
            throw ValidationError("--pairs takes one TSV file or two aligned files, got \(pairs.count)")
        }
        guard let chosen = TokenDataset.Split(rawValue: split), chosen != .train else {
            throw ValidationError("--split \(split) is not val or test")
        }
        if chosen != .val && !(text.isEmpty && pairs.isEmpty) { throw ValidationError("--split goes with a dataset, not --text or --pairs") }
        if let beam, beam < 1 { throw ValidationError("--beam must be at least 1") }
    }

    func run() throws {
        try guarded {
            if !text.isEmpty {
                try Commands.evaluateText(checkpoint: checkpoint.checkpoint, files: text, threads: threads.threads)
            } else if !pairs.isEmpty {
                try Commands.evaluatePairs(checkpoint: checkpoint.checkpoint, files: pairs, beam: beam, threads: threads.threads)
            } else {
                try Commands.evaluate(checkpoint: checkpoint.checkpoint, dataset: dataset, split: TokenDataset.Split(rawValue: split)!,
                                      beam: beam, full: full, threads: threads.threads)
            }
        }
    }
}
