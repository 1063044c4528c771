import ArgumentParser
import Foundation
import TrainerKit

// OpenBLAS chose its kernels when it was loaded; apply the `blas_kernel` setting (by default the
// fastest kernels this CPU runs) before anything else, restarting the process if needed.
do {
    try BLASKernel.selectAtStartUp(BLASKernel.requestedChoice(arguments: CommandLine.arguments,
                                                              environment: ProcessInfo.processInfo.environment))
} catch let error as TrainerError {
    FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
    exit(1)
}
BLAS.configureForKernels()

struct Trainer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trainer",
        abstract: "A Transformer trainer written from scratch: OpenBLAS kernels, MPI data parallelism, HDF5 storage.",
        discussion: "Without a subcommand: train the default config (a character-level GPT on the built-in Shakespeare corpus).",
        subcommands: [Train.self, Prepare.self, Sample.self, Translate.self, AttentionCommand.self, Eval.self, Inspect.self,
                      Bench.self],
        defaultSubcommand: Train.self)
}

Trainer.main()
