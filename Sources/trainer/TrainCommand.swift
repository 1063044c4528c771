import ArgumentParser
import Foundation
import TrainerKit

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model (single process, or data-parallel under mpirun).")

    @OptionGroup var configuration: ConfigOptions

    @Option(help: ArgumentHelp("Continue from run_dir/ckpt.h5: yes (--resume alone), or auto: if it exists, else start.",
                               valueName: "yes|auto"))
    var resume: Commands.Resume = .no

    @Flag(help: "Start over even if run_dir/ckpt.h5 exists (it is replaced at the first checkpoint).")
    var overwrite = false

    @Flag(help: "Write run_dir/trace.json: a per-rank timeline of steps trace_skip_steps ..< + trace_steps (Perfetto, chrome://tracing; sets trace).")
    var trace = false

    @Option(help: "Characters of sample text to print at the end (0: none).")
    var sample = 300

    func validate() throws {
        if resume != .no && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
    }

    func run() throws {
        do {
            try guarded(true) {
                try Commands.train(configPath: configuration.config,
                                   overrides: configuration.overrides + (trace ? ["trace=true"] : []), resume: resume,
                                   overwrite: overwrite, sampleTokens: sample)
            }
        } catch let stopped as Commands.Stopped {
            throw ExitCode(stopped.exitCode)
        }
    }
}

extension Commands.Resume: ExpressibleByArgument {}
