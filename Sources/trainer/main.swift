import ArgumentParser
import Foundation
import TrainerKit

// A binary built for another CPU (-target-cpu native on a machine with more instructions) would
// die of SIGILL mid-run: refuse at once, with what to do.
let missingFeatures = missingCPUFeatures()
if !missingFeatures.isEmpty {
    FileHandle.standardError.write(Data(("error: this trainer was built for the CPU of the machine that built it (-target-cpu native), "
        + "and this CPU lacks \(missingFeatures.joined(separator: ", ")); rebuild with TRAINER_TARGET_CPU=generic "
        + "(launch/install.sh, swift build) for any CPU, or name this one (TRAINER_TARGET_CPU=skylake-avx512, ...)\n").utf8))
    exit(1)
}

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
        version: VersionReport.text(commit: BuildInfo.commit, compiler: BuildInfo.compiler, targetCPU: BuildInfo.targetCPU),
        subcommands: [Train.self, Prepare.self, Sample.self, Translate.self, AttentionCommand.self, Eval.self, Inspect.self,
                      Bench.self, Export.self, Plot.self],
        defaultSubcommand: Train.self)
}

// `--resume` alone means `--resume yes` (it was a flag before `--resume auto` existed).
var arguments = Array(CommandLine.arguments.dropFirst())
for (index, argument) in arguments.enumerated().reversed() where argument == "--resume" {
    let next = index + 1 < arguments.count ? arguments[index + 1] : nil
    if next == nil || next!.hasPrefix("-") { arguments.insert("yes", at: index + 1) }
}
// `--option -1` would read as a missing value followed by an unknown option `-1`: join a negative
// number to the option before it, so that the command itself says what is wrong with the value.
for index in arguments.indices.reversed().dropFirst()
where arguments[index].hasPrefix("--") && !arguments[index].contains("=") && Double(arguments[index + 1]) != nil
    && arguments[index + 1].hasPrefix("-") {
    arguments[index] += "=" + arguments[index + 1]
    arguments.remove(at: index + 1)
}

// Errors are one line, `error: ...`, exit status 1 (the argument parser's own are several lines and
// 64); --help and --version print as usual.
do {
    var command = try Trainer.parseAsRoot(arguments)
    try command.run()
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    if Trainer.exitCode(for: error) == .success { Trainer.exit(withError: error) }
    let message = Trainer.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    let trimmed = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
    FileHandle.standardError.write(Data("error: \(trimmed)\n".utf8))
    exit(1)
}
