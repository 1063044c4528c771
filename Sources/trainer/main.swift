import ArgumentParser
import Foundation
import TrainerKit

// OpenBLAS chose its kernels when it was loaded; if it fell back to the generic ones on a CPU it
// does not know, restart once with a better core type (see CPU.betterBLASCore).
if let core = CPU.betterBLASCore() {
    setenv("OPENBLAS_CORETYPE", core, 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
}
BLAS.configureForKernels()

struct Trainer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trainer",
        abstract: "A Transformer trainer written from scratch: OpenBLAS kernels, MPI data parallelism, HDF5 storage.",
        subcommands: [Bench.self])
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Throughput benchmarks, printed as ratios measured in the same run.",
        subcommands: [Kernels.self])

    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every kernel's forward and backward rate at the seed GPT's shapes, next to raw cblas_sgemm.")

        @Option(help: "Threads (default: all cores).")
        var threads: Int = CPU.cores

        @Option(help: "Timed repetitions per measurement (the median is reported).")
        var repeats: Int = 7

        @Option(help: "Query rows per block in causal attention.")
        var queryBlock: Int = Attention.queryBlock

        func run() throws {
            Attention.queryBlock = queryBlock
            print("trainer bench kernels: threads=\(threads), OpenBLAS core \(CPU.blasCore), \(CPU.cores) cores")
            let bench = KernelBench(threads: threads, repeats: repeats)
            print(KernelBench.format(bench.run(), threads: threads))
        }
    }
}

Trainer.main()
