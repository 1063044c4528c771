import ArgumentParser
import Foundation
import TrainerKit

// Options shared by several commands, declared once (`@OptionGroup`).

/// `--checkpoint F`: the checkpoint a command reads.
struct CheckpointOption: ParsableArguments {
    @Option(help: "Checkpoint (.h5).")
    var checkpoint: String
}

/// `--threads N`: kernel threads of a single-process command.
struct ThreadsOption: ParsableArguments {
    @Option(help: "Threads (default: all cores).")
    var threads = CPU.cores

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }
}

/// `--config F` and `--set key=value`: a run config and overrides on top.
struct ConfigOptions: ParsableArguments {
    @Option(help: "Run config, YAML or JSON (default: the built-in default config, or the command's).")
    var config: String?

    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set optimizer.lr=3e-4 (repeatable).")
    var overrides: [String] = []
}

/// Runs a subcommand body; a `TrainerError` becomes one line on standard error and exit code 1
/// (under mpirun, the whole job is taken down with the failing rank named).
func guarded(_ needsMPI: Bool = false, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as TrainerError {
        if needsMPI && Communicator.world.size > 1 { Communicator.world.abort(error.message) }
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        throw ExitCode(1)
    }
}
