import Foundation
import XCTest
import TrainerKit

final class ConfigTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Writes `text` to a temporary file and returns its path.
    func file(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// The message of the `TrainerError` that `body` throws.
    func message(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            return "(no error)"
        } catch let error as TrainerError {
            return error.message
        } catch {
            return "(not a TrainerError: \(error))"
        }
    }

    func load(_ text: String, _ overrides: [String] = []) throws -> RunConfig {
        try ConfigLoader.load(text: text, source: "run.yaml", overrides: overrides)
    }

    // MARK: - Defaults and decoding

    /// configs/default.yaml spells out the built-in defaults (what `trainer` with no arguments runs).
    func testDefaultConfigFileIsTheBuiltInDefault() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("configs/default.yaml").path
        XCTAssertEqual(try ConfigLoader.load(path: path), RunConfig())
    }

    /// `trace: true` (the spelling), `--set trace=true` (what `--trace` adds) and the window keys.
    func testTraceKeys() throws {
        let config = try load("trace: true\ntrace_skip_steps: 3\n", ["trace_steps=4"])
        XCTAssertTrue(config.trace)
        XCTAssertEqual(config.traceSkipSteps, 3)
        XCTAssertEqual(config.traceSteps, 4)
        XCTAssertTrue(try load("", ["trace=true"]).trace)
        XCTAssertFalse(RunConfig().trace)
        XCTAssertEqual(message { try self.load("trace: sometimes\n") }, "config run.yaml: trace: expected true or false, found 'sometimes'")
        XCTAssertEqual(message { try self.load("", ["trace_steps=0"]) }, "config: trace_steps (0) must be in 1 ... 10,000")
    }

    func testDefaults() throws {
        let config = try ConfigLoader.load(path: nil, overrides: [])
        XCTAssertEqual(config, RunConfig())
        XCTAssertEqual(config.model.kind, .gpt)
        XCTAssertEqual(config.model.layers, 4)
        XCTAssertEqual(config.model.heads, 4)
        XCTAssertEqual(config.model.channels, 128)
        XCTAssertEqual(config.resolvedModel.feedForward, 512)
        XCTAssertEqual(config.resolvedModel.positions, 64)
        XCTAssertEqual(config.model.activation, .gelu)
        XCTAssertTrue(config.model.tieEmbeddings)
        XCTAssertEqual(config.model.normEpsilon, 1e-5)
        XCTAssertEqual(config.data.dataset, "data/shakespeare_char.h5")
        XCTAssertEqual(config.data.corpus, "")
        XCTAssertEqual(config.data.batchSize, 12)
        XCTAssertEqual(config.data.microBatchesPerStep, 4)
        XCTAssertEqual(config.optimizer.lr, 1e-3)
        XCTAssertEqual(config.optimizer.beta2, 0.99)
        XCTAssertEqual(config.optimizer.gradClip, 1.0)
        XCTAssertEqual(config.schedule.warmup, 100)
        XCTAssertEqual(config.schedule.resolvedDecaySteps, 2000)
        XCTAssertEqual(config.schedule.minLR, 1e-4)
        XCTAssertEqual(config.eval.interval, 250)
        XCTAssertEqual(config.checkpoint.keep, 1)
        XCTAssertEqual(config.seed, 1337)
        XCTAssertEqual(config.runDirectory, "runs/default")
        XCTAssertEqual(config.threads, 0)
        XCTAssertEqual(config.reduction, .exact)
        XCTAssertEqual(config.logInterval, 1)
        XCTAssertNoThrow(try config.validate())
    }

    func testPartialFileKeepsDefaultsForTheRest() throws {
        let path = try file("partial.yaml", """
            # Only what differs from the defaults.
            model:
              kind: seq2seq
              channels: 64
              feed_forward: 100
            data:
              batch_size: 24
              micro_batch_size: 8
            schedule:
              decay_steps: 1500
            eval:          # empty section: all defaults
            run_dir: runs/small
            """)
        let config = try ConfigLoader.load(path: path, overrides: [])
        var expected = RunConfig()
        expected.model.kind = .seq2seq
        expected.model.channels = 64
        expected.model.feedForward = 100
        expected.data.batchSize = 24
        expected.data.microBatchSize = 8
        expected.schedule.decaySteps = 1500
        expected.runDirectory = "runs/small"
        XCTAssertEqual(config, expected)
        XCTAssertEqual(config.resolvedModel.feedForward, 100)
        XCTAssertEqual(config.data.microBatchesPerStep, 3)
        XCTAssertEqual(config.schedule.resolvedDecaySteps, 1500)
    }

    func testJSONFile() throws {
        let path = try file("run.json", """
            {"model": {"layers": 2, "tie_embeddings": false}, "optimizer": {"lr": 0.0005}, "seed": 7,
             "reduction": "float"}
            """)
        let config = try ConfigLoader.load(path: path, overrides: [])
        XCTAssertEqual(config.model.layers, 2)
        XCTAssertFalse(config.model.tieEmbeddings)
        XCTAssertEqual(config.optimizer.lr, 0.0005)
        XCTAssertEqual(config.seed, 7)
        XCTAssertEqual(config.reduction, .float)
        XCTAssertEqual(config.model.heads, 4)
    }

    func testYAMLRoundTrip() throws {
        var config = RunConfig()
        config.model.kind = .seq2seq
        config.model.positions = 256
        config.model.dropout = 0.1
        config.model.activation = .geluTanh
        config.model.tieEmbeddings = false
        config.model.labelSmoothing = 1.0 / 3.0
        config.data.corpus = "1e-1"  // a string that looks like a number stays a string
        config.data.dataset = "yes"  // and one that looks like a bool
        config.data.blockSize = 128
        config.optimizer.lr = 0.1 + 0.2  // not the shortest decimal
        config.optimizer.eps = 1e-300
        config.schedule.minLR = 3e-5
        config.runDirectory = "runs/a: b #c"
        config.reduction = .float
        let text = try ConfigLoader.yaml(config)
        XCTAssertEqual(try load(text), config)

        // Every key is written, snake_case, with numbers written readably.
        XCTAssertTrue(text.contains("feed_forward: 0\n"), text)
        XCTAssertTrue(text.contains("micro_batch_size: 3\n"), text)
        XCTAssertTrue(text.contains("eps: 1.0e-300\n"), text)
        XCTAssertTrue(text.contains("dropout: 0.1\n"), text)
        XCTAssertTrue(text.contains("lr: 0.30000000000000004\n"), text)
        XCTAssertTrue(text.contains("dataset: 'yes'\n"), text)
        XCTAssertTrue(text.contains("corpus: '1e-1'\n"), text)
        XCTAssertTrue(text.contains("run_dir:"), text)
        XCTAssertTrue(text.contains("log_interval: 1\n"), text)

        // The defaults too.
        XCTAssertEqual(try load(ConfigLoader.yaml(RunConfig())), RunConfig())

        var infinite = RunConfig()
        infinite.optimizer.gradClip = .infinity
        XCTAssertEqual(message { try ConfigLoader.yaml(infinite) },
                       "config: cannot be written: a number is infinite or NaN")
    }

    // MARK: - Overrides

    func testOverridesOfEachType() throws {
        let path = try file("base.yaml", "model:\n  layers: 6\noptimizer:\n  lr: 0.01\n")
        let config = try ConfigLoader.load(path: path, overrides: [
            "model.layers=2",  // int, replacing the file's
            "optimizer.lr=0.5",  // double, replacing the file's
            "schedule.min_lr=1e-5",  // double in exponent notation
            "model.tie_embeddings=false",  // bool
            "data.corpus=texts/a.txt",  // string
            "model.kind=seq2seq",  // enum
            "reduction=float",  // top-level enum
            "eval.batches=5",  // section absent from the file
            "run_dir=runs/x=1",  // '=' in the value
        ])
        XCTAssertEqual(config.model.layers, 2)
        XCTAssertEqual(config.optimizer.lr, 0.5)
        XCTAssertEqual(config.schedule.minLR, 1e-5)
        XCTAssertFalse(config.model.tieEmbeddings)
        XCTAssertEqual(config.data.corpus, "texts/a.txt")
        XCTAssertEqual(config.model.kind, .seq2seq)
        XCTAssertEqual(config.reduction, .float)
        XCTAssertEqual(config.eval.batches, 5)
        XCTAssertEqual(config.runDirectory, "runs/x=1")
        XCTAssertEqual(config.model.heads, 4)

        // A later override wins; an empty value is the empty string.
        let twice = try load("", ["seed=1", "seed=2", "data.corpus="])
        XCTAssertEqual(twice.seed, 2)
        XCTAssertEqual(twice.data.corpus, "")
    }

    func testOverrideErrors() {
        XCTAssertEqual(message { try self.load("", ["optimizer.lrr=0.1"]) },
                       "--set optimizer.lrr=0.1: unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)")
        XCTAssertEqual(message { try self.load("", ["modle.layers=2"]) },
                       "--set modle.layers=2: unknown key 'modle' (did you mean 'model'?)")
        XCTAssertEqual(message { try self.load("", ["seed"]) },
                       "--set seed: expected key.path=value, e.g. --set optimizer.lr=3e-4")
        XCTAssertEqual(message { try self.load("", ["model..layers=2"]) },
                       "--set model..layers=2: expected key.path=value, e.g. --set optimizer.lr=3e-4")
        XCTAssertEqual(message { try self.load("", ["seed.x=1"]) },
                       "--set seed.x=1: seed is a single value and has no keys of its own")
        XCTAssertEqual(message { try self.load("", ["eval=3"]) },
                       "--set eval=3: eval is a section; set one of its keys (eval.interval, eval.batches, eval.beam, eval.length_penalty, eval.decode_pairs)")
        XCTAssertEqual(message { try self.load("", ["data.corpus=[a, b]"]) },
                       "--set data.corpus=[a, b]: expected a single value, found a list")
        XCTAssertEqual(message { try self.load("", ["model.layers=two"]) },
                       "--set model.layers=two: model.layers: expected an integer, found 'two'")
        XCTAssertEqual(message { try self.load("", ["model.kind=gtp"]) },
                       "--set model.kind=gtp: model.kind: expected one of gpt, seq2seq, found 'gtp'")
        XCTAssertEqual(message { try self.load("", ["model.activation=swish"]) },
                       "--set model.activation=swish: model.activation: expected one of relu, gelu, gelu_tanh, found 'swish'")
    }

    // MARK: - File errors

    func testUnknownKeys() {
        XCTAssertEqual(message { try self.load("optimizer:\n  lrr: 0.1\n") },
                       "config run.yaml: unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)")
        XCTAssertEqual(message { try self.load("sed: 3\n") },
                       "config run.yaml: unknown key 'sed' (did you mean 'seed'?)")
        XCTAssertEqual(message { try self.load("model:\n  layers: 2\n  num_attention_heads: 2\n") },
                       "config run.yaml: unknown key 'model.num_attention_heads' (valid keys in model: kind, layers, "
                           + "heads, channels, feed_forward, positions, dropout, activation, tie_embeddings, "
                           + "norm_epsilon, label_smoothing)")
        XCTAssertEqual(message { try self.load("learning_rate_schedule: {}\n") },
                       "config run.yaml: unknown key 'learning_rate_schedule' (valid keys: model, data, optimizer, "
                           + "schedule, eval, checkpoint, seed, run_dir, threads, reduction, overlap_reduction, bucket_parameters, sync_check_interval, watchdog_seconds, log_interval, blas_kernel, precision, trace, trace_skip_steps, trace_steps)")
    }

    func testScalarWhereAMappingIsExpected() {
        XCTAssertEqual(message { try self.load("checkpoint: 3\n") },
                       "config run.yaml: checkpoint: expected a mapping of keys (interval, keep), found '3'")
        XCTAssertEqual(message { try self.load("eval: [1, 2]\n") },
                       "config run.yaml: eval: expected a mapping of keys (interval, batches, beam, length_penalty, decode_pairs), found a list")
        XCTAssertEqual(message { try self.load("just text\n") },
                       "config run.yaml: expected a mapping of keys (model, data, optimizer, schedule, eval, "
                           + "checkpoint, seed, run_dir, threads, reduction, overlap_reduction, bucket_parameters, sync_check_interval, watchdog_seconds, log_interval, blas_kernel, precision, trace, trace_skip_steps, trace_steps) at the top level, "
                           + "found 'just text'")
        XCTAssertEqual(message { try self.load("optimizer:\n  lr: {value: 1}\n") },
                       "config run.yaml: optimizer.lr: expected a single value, found a mapping")
    }

    func testTypeErrors() {
        XCTAssertEqual(message { try self.load("data:\n  batch_size: twelve\n") },
                       "config run.yaml: data.batch_size: expected an integer, found 'twelve'")
        XCTAssertEqual(message { try self.load("data:\n  batch_size: 12.5\n") },
                       "config run.yaml: data.batch_size: expected an integer, found '12.5'")
        XCTAssertEqual(message { try self.load("data:\n  batch_size: \"12\"\n") },
                       "config run.yaml: data.batch_size: expected an integer, found the quoted string '12'")
        XCTAssertEqual(message { try self.load("optimizer:\n  lr: fast\n") },
                       "config run.yaml: optimizer.lr: expected a number, found 'fast'")
        XCTAssertEqual(message { try self.load("model:\n  tie_embeddings: maybe\n") },
                       "config run.yaml: model.tie_embeddings: expected true or false, found 'maybe'")
        XCTAssertEqual(message { try self.load("reduction: sloppy\n") },
                       "config run.yaml: reduction: expected one of exact, float, found 'sloppy'")
    }

    func testSyntaxErrorsAndMissingFile() throws {
        XCTAssertEqual(message { try self.load("model: [1\n") },
                       "config run.yaml: invalid YAML at line 2, column 1: did not find expected ',' or ']' "
                           + "(while parsing a flow sequence at line 1, column 8)")
        XCTAssertEqual(message { try self.load("optimizer:\n  lr: 1\n  lr: 2\n") },
                       "config run.yaml: duplicate key 'lr' in the mapping at line 2")
        let missing = directory.appendingPathComponent("missing.yaml").path
        XCTAssertEqual(message { try ConfigLoader.load(path: missing, overrides: []) },
                       "config \(missing): no such file")
        let broken = try file("broken.yaml", "model:\n  layers: 2\n    heads: 3\n")
        XCTAssertTrue(message { try ConfigLoader.load(path: broken, overrides: []) }
            .hasPrefix("config \(broken): invalid YAML at line 3, column 10: "))
    }

    // MARK: - Validation

    func testValidationRules() {
        let cases: [(String, (inout RunConfig) -> Void)] = [
            ("model.layers (0) must be positive", { $0.model.layers = 0 }),
            ("model.heads (-1) must be positive", { $0.model.heads = -1 }),
            ("model.channels (0) must be positive", { $0.model.channels = 0 }),
            ("model.channels (130) is not divisible by model.heads (4)", { $0.model.channels = 130 }),
            ("model.feed_forward (-5) must be positive, or 0 for 4·model.channels", { $0.model.feedForward = -5 }),
            ("model.positions (-1) must be positive, or 0 for data.block_size", { $0.model.positions = -1 }),
            ("model.dropout (1.0) must be in [0, 1)", { $0.model.dropout = 1 }),
            ("model.dropout (-0.1) must be in [0, 1)", { $0.model.dropout = -0.1 }),
            ("model.norm_epsilon (0.0) must be positive", { $0.model.normEpsilon = 0 }),
            ("model.label_smoothing (1.5) must be in [0, 1)", { $0.model.labelSmoothing = 1.5 }),
            ("data.dataset is empty; give the path of an HDF5 dataset", { $0.data.dataset = "" }),
            ("data.batch_size (0) must be positive", { $0.data.batchSize = 0 }),
            ("data.micro_batch_size (0) must be positive", { $0.data.microBatchSize = 0 }),
            ("data.batch_size (12) is not divisible by data.micro_batch_size (5)", { $0.data.microBatchSize = 5 }),
            ("data.block_size (0) must be positive", { $0.data.blockSize = 0 }),
            ("data.block_size (128) is larger than model.positions (64)", {
                $0.data.blockSize = 128
                $0.model.positions = 64
            }),
            ("optimizer.lr (0.0) must be positive", { $0.optimizer.lr = 0 }),
            ("optimizer.lr (nan) must be positive", { $0.optimizer.lr = .nan }),
            ("optimizer.beta1 (1.0) must be in [0, 1)", { $0.optimizer.beta1 = 1 }),
            ("optimizer.beta2 (-0.5) must be in [0, 1)", { $0.optimizer.beta2 = -0.5 }),
            ("optimizer.eps (0.0) must be positive", { $0.optimizer.eps = 0 }),
            ("optimizer.weight_decay (-0.1) must be 0 or positive", { $0.optimizer.weightDecay = -0.1 }),
            ("optimizer.grad_clip (-1.0) must be positive, or 0 to disable clipping", { $0.optimizer.gradClip = -1 }),
            ("schedule.warmup (-1) must be 0 or positive", { $0.schedule.warmup = -1 }),
            ("schedule.max_steps (0) must be positive", { $0.schedule.maxSteps = 0 }),
            ("schedule.decay_steps (-1) must be positive, or 0 for schedule.max_steps", { $0.schedule.decaySteps = -1 }),
            ("schedule.min_lr (0.01) must be in [0, optimizer.lr (0.001)]", { $0.schedule.minLR = 0.01 }),
            ("eval.interval (-1) must be positive, or 0 for only at the end", { $0.eval.interval = -1 }),
            ("eval.batches (0) must be in 1 ... 1,000,000", { $0.eval.batches = 0 }),
            ("eval.batches (1000000000000) must be in 1 ... 1,000,000", { $0.eval.batches = 1_000_000_000_000 }),
            ("watchdog_seconds (-1.0) must be positive, or 0 for automatic", { $0.watchdogSeconds = -1 }),
            ("checkpoint.interval (-1) must be positive, or 0 for only at the end", { $0.checkpoint.interval = -1 }),
            ("checkpoint.keep (0) must be at least 1", { $0.checkpoint.keep = 0 }),
            ("seed (-1) must be 0 or positive", { $0.seed = -1 }),
            ("run_dir is empty; give the directory for checkpoints and logs", { $0.runDirectory = "" }),
            ("threads (-2) must be positive, or 0 for cores / ranks", { $0.threads = -2 }),
            ("log_interval (0) must be positive", { $0.logInterval = 0 }),
            ("trace_skip_steps (-1) must be 0 or positive", { $0.traceSkipSteps = -1 }),
            ("trace_steps (0) must be in 1 ... 10,000", { $0.traceSteps = 0 }),
            ("bucket_parameters (100) must be in 1024 ... 1073741824", { $0.bucketParameters = 100 }),
            ("trace_skip_steps (2000) must be below schedule.max_steps (2000), or the trace window never opens",
             { $0.trace = true; $0.traceSkipSteps = 2000 }),
        ]
        for (expected, change) in cases {
            var config = RunConfig()
            change(&config)
            XCTAssertEqual(message { try config.validate() }, "config: " + expected)
        }

        // Boundaries that are allowed.
        var config = RunConfig()
        config.model.positions = 64  // equal to data.block_size
        config.model.dropout = 0
        config.optimizer.gradClip = 0
        config.schedule.minLR = config.optimizer.lr
        config.eval.interval = 0
        config.checkpoint.interval = 0
        config.traceSkipSteps = 5000  // allowed while the trace is off
        XCTAssertNoThrow(try config.validate())
        config.trace = true
        config.traceSkipSteps = config.schedule.maxSteps - 1
        XCTAssertNoThrow(try config.validate())

        // load validates.
        XCTAssertEqual(message { try self.load("data:\n  micro_batch_size: 5\n") },
                       "config: data.batch_size (12) is not divisible by data.micro_batch_size (5)")
    }
}
