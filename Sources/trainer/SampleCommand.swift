import ArgumentParser
import Foundation
import TrainerKit

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a GPT checkpoint.")

    @OptionGroup var checkpoint: CheckpointOption

    @Option(help: "Text to continue.")
    var prompt = ""

    @Option(help: "Tokens to generate.")
    var tokens = 500

    @Option(help: "Softmax temperature (0: greedy, the most likely character each time).")
    var temperature = 0.8

    @Option(help: "Sample only from the k most likely tokens (0: all).")
    var topK = 200

    @Option(help: "Random seed.")
    var seed: UInt64 = 1337

    @Flag(help: "Run a forward pass over the whole context for every token instead of using the key/value cache (slower, the same tokens).")
    var noCache = false

    @Flag(help: "When the context is full, keep its newer half instead of sliding it by one token (much faster past the model's positions; not nanoGPT's crop).")
    var contextShift = false

    @Flag(help: "Print the speed (tokens/s) on standard error at the end.")
    var timing = false

    @OptionGroup var threads: ThreadsOption

    func validate() throws {
        guard temperature >= 0 && temperature.isFinite else {
            throw ValidationError("--temperature \(temperature) must be a finite number, 0 or more (0: greedy)")
        }
        guard tokens >= 0, topK >= 0 else { throw ValidationError("--tokens and --top-k must not be negative") }
    }

    func run() throws {
        try guarded {
            try Commands.sample(checkpoint: checkpoint.checkpoint, prompt: prompt,
                                options: SamplingOptions(tokens: tokens, temperature: temperature, topK: topK, seed: seed,
                                                         useCache: !noCache, contextShift: contextShift),
                                timing: timing,
                                threads: threads.threads)
        }
    }
}
