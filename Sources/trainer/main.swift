import ArgumentParser
import Foundation
import TrainerKit

// OpenBLAS chose its kernels when it was loaded; apply the `blas_kernel` setting (by default the
// fastest kernels this CPU runs) before anything else, restarting the process if needed.
do {
    try BLASKernel.selectAtStartUp()
} catch let error as TrainerError {
    FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
    exit(1)
}
BLAS.configureForKernels()

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

struct Trainer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trainer",
        abstract: "A Transformer trainer written from scratch: OpenBLAS kernels, MPI data parallelism, HDF5 storage.",
        discussion: "Without a subcommand: train the default config (a character-level GPT on the built-in Shakespeare corpus).",
        subcommands: [Train.self, Prepare.self, Sample.self, Translate.self, AttentionCommand.self, Eval.self, Inspect.self,
                      Bench.self],
        defaultSubcommand: Train.self)
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model (single process, or data-parallel under mpirun).")

    @Option(help: "Run config, YAML or JSON (default: the built-in default config).")
    var config: String?

    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set optimizer.lr=3e-4 (repeatable).")
    var overrides: [String] = []

    @Flag(help: "Continue from run_dir/ckpt.h5.")
    var resume = false

    @Option(help: "Characters of sample text to print at the end (0: none).")
    var sample = 300

    func run() throws {
        try guarded(true) { try Commands.train(configPath: config, overrides: overrides, resume: resume, sampleTokens: sample) }
    }
}

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a corpus into an HDF5 dataset: text for a language model (char), or a parallel corpus for translation (word, bpe).",
        discussion: """
            Language model: --input corpus.txt [--input more.txt] --tokenizer char.
            Translation: --input pairs.tsv (source<TAB>target per line) or --input train.en --input train.it (aligned \
            files), --tokenizer word|bpe. --generate toy-en-it --output toy.tsv writes the built-in toy corpus.
            """)

    @Option(name: .customLong("input"), help: "Input file(s) (repeatable).")
    var inputs: [String] = []

    @Option(help: "Output dataset (.h5), or the TSV file with --generate.")
    var output: String

    @Option(help: "char (language model) | word | bpe (translation)")
    var tokenizer = "char"

    @Option(help: "bpe: target vocabulary size per side (or shared); word: a cap on the vocabulary (0: none).")
    var vocabSize = 0

    @Option(help: "word: least count of a word to be kept; bpe: of a merge.")
    var minFrequency = 2

    @Flag(help: "One vocabulary for source and target.")
    var sharedVocab = false

    @Option(help: "Translation: longest sequence kept, [SOS]/[EOS] included; longer pairs are dropped and counted.")
    var maxLength = 128

    @Option(help: "Fraction kept for validation (the end of a text corpus; a seeded random share of a parallel one).")
    var valFraction = 0.1

    @Option(help: "Write a generated corpus instead: toy-en-it.")
    var generate: String?

    @Option(help: "Pairs to generate.")
    var pairs = 22_000

    func run() throws {
        try guarded {
            if let generate {
                guard generate == "toy-en-it" else { throw TrainerError("prepare: --generate \(generate) is unknown (toy-en-it)") }
                try Commands.generateToyCorpus(output: output, pairs: pairs)
                return
            }
            if tokenizer == "char" {
                try Commands.prepare(inputs: inputs, output: output, tokenizer: tokenizer, validationFraction: valFraction)
            } else {
                var options = ParallelPrepareOptions()
                options.tokenizer = tokenizer
                options.vocabularySize = vocabSize
                options.minimumFrequency = minFrequency
                options.sharedVocabulary = sharedVocab
                options.maximumLength = maxLength
                options.validationFraction = valFraction
                try Commands.prepareParallel(inputs: inputs, output: output, options: options)
            }
        }
    }
}

struct Translate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Translate with a seq2seq checkpoint: sentences as arguments, or one per standard-input line.")

    @Option(help: "Checkpoint (.h5).")
    var checkpoint: String

    @Option(help: "Beam size (1: greedy).")
    var beam = 4

    @Option(help: "Length-penalty exponent α of beam search, ((5 + length)/6)^α.")
    var lengthPenalty = 0.6

    @Option(help: "Threads (default: all cores).")
    var threads = CPU.cores

    @Argument(help: "Sentences to translate (default: read standard input).")
    var sentences: [String] = []

    func validate() throws {
        guard beam >= 1 else { throw ValidationError("--beam must be at least 1") }
    }

    func run() throws {
        try guarded {
            try Commands.translate(checkpoint: checkpoint, sentences: sentences, beam: beam, lengthPenalty: lengthPenalty,
                                   threads: threads)
        }
    }
}

struct AttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Translate a sentence and draw every attention map (encoder, decoder, cross; layers × heads) as HTML.")

    @Option(help: "Checkpoint (.h5).")
    var checkpoint: String

    @Option(help: "Output page.")
    var output = "attention.html"

    @Option(help: "Threads (default: all cores).")
    var threads = CPU.cores

    @Argument(help: "The sentence.")
    var sentence: String

    func run() throws {
        try guarded { try Commands.attention(checkpoint: checkpoint, sentence: sentence, output: output, threads: threads) }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint: loss and perplexity; BLEU, chrF, CER and WER for translation.")

    @Option(help: "Checkpoint (.h5).")
    var checkpoint: String

    @Option(help: "Dataset (default: the one the checkpoint was trained on).")
    var dataset: String?

    @Option(help: "Translation: beam size for BLEU (default: the config's eval.beam).")
    var beam: Int?

    @Option(help: "Threads (default: all cores).")
    var threads = CPU.cores

    func run() throws {
        try guarded { try Commands.evaluate(checkpoint: checkpoint, dataset: dataset, beam: beam, threads: threads) }
    }
}

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a GPT checkpoint.")

    @Option(help: "Checkpoint (.h5).")
    var checkpoint: String

    @Option(help: "Text to continue.")
    var prompt = ""

    @Option(help: "Tokens to generate.")
    var tokens = 500

    @Option(help: "Softmax temperature.")
    var temperature = 0.8

    @Option(help: "Sample only from the k most likely tokens (0: all).")
    var topK = 200

    @Option(help: "Random seed.")
    var seed = 1337

    @Option(help: "Threads (default: all cores).")
    var threads = CPU.cores

    func validate() throws {
        guard temperature > 0 else { throw ValidationError("--temperature must be positive") }
        guard tokens >= 0, topK >= 0 else { throw ValidationError("--tokens and --top-k must not be negative") }
    }

    func run() throws {
        try guarded {
            try Commands.sample(checkpoint: checkpoint, prompt: prompt,
                                options: SamplingOptions(tokens: tokens, temperature: temperature, topK: topK, seed: UInt64(seed)),
                                threads: threads)
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Summarise a checkpoint or a dataset.")

    @Argument(help: "An HDF5 file written by the trainer.")
    var file: String

    func run() throws {
        try guarded { print(try TrainerKit.Inspect.describe(path: file)) }
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Throughput benchmarks, printed as ratios measured in the same run.",
        subcommands: [Kernels.self, Step.self, Sgemm.self])

    struct Step: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Training steps of a config's GPT on synthetic data: ms/step, tokens/s and MFU, single process.")

        @Option(help: "Run config (default: configs/gpt-full.yaml, the seeds' full GPT).")
        var config = "configs/gpt-full.yaml"

        @Option(name: .customLong("set"), help: "Override a config key (repeatable).")
        var overrides: [String] = []

        @Option(parsing: .upToNextOption, help: "Thread counts to measure.")
        var threads: [Int] = [1, CPU.cores]

        @Option(help: "Timed steps per thread count (the best is reported).")
        var steps = 3

        func run() throws {
            try guarded(true) {
                let runConfig = try ConfigLoader.load(path: config, overrides: overrides)
                let world = Communicator.world
                let say: (String) -> Void = { if world.isRoot { print($0) } }
                say("trainer bench step: \(config), \(world.size) rank(s), batch \(runConfig.data.batchSize) × \(runConfig.data.blockSize) tokens in micro-batches of \(runConfig.data.microBatchSize), reduction \(runConfig.reduction.rawValue), \(BLASKernel.summary)")
                var results: [StepBench.Result] = []
                for count in threads {
                    results.append(try StepBench.run(config: runConfig, threads: count, steps: steps, log: say))
                }
                for r in results { say("MFU with \(r.threads) thread(s) per rank is against the \(r.peak.description)") }
                say("ranks threads   ms/step    tokens/s     MFU   all-reduce   peak GFLOP/s  sgemm GFLOP/s   parameters")
                for r in results {
                    say(String(format: "%5d %7d %9.1f %11.0f %6.1f%% %9.1f%% %14.1f %14.1f %12d", r.ranks, r.threads,
                               r.millisecondsPerStep, r.tokensPerSecond, r.mfu * 100, r.allreduceShare * 100,
                               r.peak.flops / 1e9, r.peak.sgemm / 1e9, r.parameters))
                }
            }
        }
    }

    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every kernel's forward and backward rate at the seed GPT's shapes, next to raw cblas_sgemm.")

        @Option(help: "Threads (default: all cores).")
        var threads: Int = CPU.cores

        @Option(help: "Timed repetitions per measurement (the best is reported).")
        var repeats: Int = 7

        @Option(help: "Query rows per block in causal attention.")
        var queryBlock: Int = Attention.queryBlock

        @Flag(help: "Only list the OpenBLAS kernel families this CPU can run, slowest first.")
        var listKernels = false

        func run() throws {
            if listKernels {
                BLASKernel.runnable().forEach { print($0) }
                return
            }
            Attention.queryBlock = queryBlock
            print("trainer bench kernels: threads=\(threads), \(CPU.cores) cores, \(BLASKernel.summary)")
            let peak = MachinePeak.measure(threads: threads)
            print("\(peak.description); \"of peak\" below is against it")
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

Trainer.main()
