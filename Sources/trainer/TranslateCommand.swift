import ArgumentParser
import Foundation
import TrainerKit

struct Translate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Translate with a seq2seq checkpoint: sentences as arguments, or one per standard-input line.",
        discussion: """
            Standard input is read 64 lines at a time and each chunk is translated as one batch, the \
            translations printed in input order (a terminal is translated line by line). Inputs longer \
            than the model's positions are truncated, and counted on standard error.
            """)

    @OptionGroup var checkpoint: CheckpointOption

    @Option(help: "Beam size (1: greedy).")
    var beam = 4

    @Option(help: "Length-penalty exponent α of beam search, ((5 + length)/6)^α.")
    var lengthPenalty = 0.6

    @Flag(help: "Run the decoder over every whole prefix instead of using the key/value cache (slower, the same output).")
    var noCache = false

    @Flag(help: "Print the speed (sentences/s) on standard error at the end.")
    var timing = false

    @OptionGroup var threads: ThreadsOption

    @Argument(help: "Sentences to translate (default: read standard input).")
    var sentences: [String] = []

    func validate() throws {
        guard beam >= 1 else { throw ValidationError("--beam must be at least 1") }
        guard lengthPenalty.isFinite && lengthPenalty >= 0 else {
            throw ValidationError("--length-penalty \(lengthPenalty) must be a finite number, 0 or more")
        }
    }

    func run() throws {
        try guarded {
            try Commands.translate(checkpoint: checkpoint.checkpoint, sentences: sentences, beam: beam, lengthPenalty: lengthPenalty,
                                   useCache: !noCache, timing: timing, threads: threads.threads)
        }
    }
}
