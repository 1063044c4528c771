import ArgumentParser
import Foundation
import TrainerKit

struct AttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Translate a sentence and draw every attention map (encoder, decoder, cross; layers × heads) as HTML.")

    @OptionGroup var checkpoint: CheckpointOption

    @Option(help: "Output page.")
    var output = "attention.html"

    @OptionGroup var threads: ThreadsOption

    @Argument(help: "The sentence.")
    var sentence: String

    func run() throws {
        try guarded { try Commands.attention(checkpoint: checkpoint.checkpoint, sentence: sentence, output: output, threads: threads.threads) }
    }
}
