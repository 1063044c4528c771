import ArgumentParser
import Foundation
import TrainerKit

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Throughput benchmarks, printed as ratios measured in the same run.",
        subcommands: [Kernels.self, Step.self, Sgemm.self])

    struct Step: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Training steps of a config's GPT on synthetic data: ms/step, tokens/s and MFU, single process.")

        /// Without `--config`: configs/gpt-full.yaml, the seeds' full GPT (from the working folder,
        /// else from the installed share/trainer/configs beside the executable).
        @OptionGroup var configuration: ConfigOptions

        @Option(parsing: .upToNextOption, help: "Thread counts to measure.")
        var threads: [Int] = [1, CPU.cores]

        @Option(help: "Timed steps per thread count (the best is reported).")
        var steps = 3

        @Flag(help: "Then profile as many steps again: each kernel's self time per step (rank 0).")
        var profile = false

        func run() throws {
            try guarded(true) {
                let config = configuration.config ?? ConfigLoader.shippedConfig("gpt-full.yaml")
                let runConfig = try ConfigLoader.load(path: config, overrides: configuration.overrides)
                let world = Communicator.world
                let say: (String) -> Void = { if world.isRoot { print($0) } }
                say("trainer bench step: \(config), \(world.size) rank(s), batch \(runConfig.data.batchSize) × \(runConfig.data.blockSize) tokens in micro-batches of \(runConfig.data.microBatchSize), reduction \(runConfig.reduction.rawValue), \(BLASKernel.summary)")
                var results: [StepBench.Result] = []
                for count in threads {
                    results.append(try StepBench.run(config: runConfig, threads: count, steps: steps, profile: profile, log: say))
                }
                for r in results { say("MFU with \(r.threads) thread(s) per rank is against the \(r.peak.description)") }
                say("ranks threads   ms/step    tokens/s     MFU   all-reduce   peak GFLOP/s   gemm GFLOP/s   parameters")
                for r in results {
                    say(String(format: "%5d %7d %9.1f %11.0f %6.1f%% %9.1f%% %14.1f %14.1f %12d", r.ranks, r.threads,
                               r.millisecondsPerStep, r.tokensPerSecond, r.mfu * 100, r.allreduceShare * 100,
                               r.peak.flops / 1e9, r.peak.gemm / 1e9, r.parameters))
                }
                for r in results where !r.profile.isEmpty { say(Bench.profileTable(r)) }
            }
        }
    }

    /// Rank 0's kernels by self time per profiled step, and what no kernel accounts for.
    static func profileTable(_ r: StepBench.Result) -> String {
        let step = r.profiledStepSeconds, timed = r.profile.reduce(0) { $0 + $1.seconds }
        var lines = [String(format: "profile, %d rank(s) × %d thread(s), precision %@: %.1f ms per profiled step",
                            r.ranks, r.threads, r.peak.precision.rawValue, step * 1e3),
                     "kernel                                   ms/step   share   calls/step"]
        for entry in r.profile {
            lines.append(entry.name.padding(toLength: 38, withPad: " ", startingAt: 0)
                         + String(format: " %9.2f %6.1f%% %10d", entry.seconds * 1e3, 100 * entry.seconds / step, entry.calls))
        }
        lines.append("(outside the kernels)".padding(toLength: 38, withPad: " ", startingAt: 0)
                     + String(format: " %9.2f %6.1f%%", (step - timed) * 1e3, 100 * (step - timed) / step))
        return lines.joined(separator: "\n")
    }

    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every kernel's forward and backward rate at the seed GPT's shapes, next to raw cblas_sgemm.")

        @OptionGroup var threadOption: ThreadsOption

        @Option(help: "Timed repetitions per measurement (the best is reported).")
        var repeats: Int = 7

        @Option(help: "Query rows per block in causal attention.")
        var queryBlock: Int = Attention.queryBlock

        @Option(parsing: .upToNextOption, help: "Tiled attention: query rows and keys per tile.")
        var tile: [Int] = [FlashAttention.queryBlock, FlashAttention.block]

        func validate() throws {
            guard tile.count == 2, tile.allSatisfy({ $0 > 0 }) else {
                throw ValidationError("--tile takes two positive numbers (query rows, keys), got \(tile)")
            }
        }

        @Flag(help: "Only list the OpenBLAS kernel families this CPU can run, slowest first.")
        var listKernels = false

        func run() throws {
            let threads = threadOption.threads
            if listKernels {
                BLASKernel.runnable().forEach { print($0) }
                return
            }
            Attention.queryBlock = queryBlock
            (FlashAttention.queryBlock, FlashAttention.block) = (tile[0], tile[1])
            print("trainer bench kernels: threads=\(threads), \(CPU.cores) cores, \(BLASKernel.summary)")
            print("element-wise kernels in C: \(VectorInstructions.inUse) (Sources/CKernels)")
            let peak = MachinePeak.measure(threads: threads)
            print("\(peak.description); \"of peak\" below is against it")
            if !BF16.isNative { print("bf16 rows skipped: this CPU lacks avx512_bf16 (precision: bf16 is refused here)") }
            let bench = KernelBench(threads: threads, repeats: repeats)
            print(KernelBench.format(bench.run(), peak: peak.flops))
            print("\nsgemm 4096×1152×384 (the qkv projection) with each OpenBLAS kernel this CPU can run, each in its own process:")
            print("kernel               1 thread GFLOP/s   of peak   \(threads) threads GFLOP/s   of peak")
            let onePeak = threads == 1 ? peak.flops : MachinePeak.fmaRate(threads: 1).flops
            for rate in KernelBench.compareKernels(BLASKernel.runnable(), threads: threads) {
                func cell(_ value: Double?, _ peak: Double) -> String {
                    value.map { String(format: "%16.1f %8.0f%%", $0 / 1e9, 100 * $0 / peak) } ?? "          failed          "
                }
                let inUse = rate.kernel.lowercased() == BLASKernel.current.lowercased() ? " (in use)" : ""
                print((rate.kernel + inUse).padding(toLength: 20, withPad: " ", startingAt: 0) + cell(rate.oneThread, onePeak)
                      + "   " + cell(rate.threads, peak.flops))
            }
        }
    }

    /// `bench sgemm`: one sgemm rate per thread count with the kernel loaded, for `bench kernels`
    /// (which runs it once per kernel family with `OPENBLAS_CORETYPE` set).
    struct Sgemm: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the OpenBLAS kernel in use and its sgemm FLOP/s at the qkv shape, per thread count.",
            shouldDisplay: false)

        @Option(parsing: .upToNextOption, help: "Thread counts.")
        var threads: [Int] = [1]

        func run() throws {
            let rates = threads.map { KernelBench.sgemmRate(m: 4096, n: 1152, k: 384, threads: $0, repeats: 5) }
            print(([BLASKernel.current] + rates.map { String(format: "%.0f", $0) }).joined(separator: " "))
        }
    }
}
