import ArgumentParser
import Foundation
import TrainerKit

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model (single process, or data-parallel under mpirun).")

    @OptionGroup var configuration: ConfigOptions

    @Flag(help: "Continue from run_dir/ckpt.h5.")
    var resume = false

    @Option(help: "Characters of sample text to print at the end (0: none).")
    var sample = 300

    func run() throws {
        try guarded(true) { try Commands.train(configPath: configuration.config, overrides: configuration.overrides, resume: resume, sampleTokens: sample) }
    }
}
