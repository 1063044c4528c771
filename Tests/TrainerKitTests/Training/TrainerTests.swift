import Foundation
import XCTest
import TrainerKit

/// End-to-end training in one process: exact resume, checkpoint layout, bad inputs.
final class TrainerTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("trainer")
        let corpus = BuiltinCorpus.shakespeareText
        try String(corpus.prefix(40_000)).write(toFile: directory + "/corpus.txt", atomically: true, encoding: .utf8)
        _ = try Prepare.prepareLanguageModel(inputs: [directory + "/corpus.txt"], output: directory + "/data.h5")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    /// A tiny GPT with dropout and two micro-batches per step, so that resume must restore the
    /// optimizer, the step, the RNG positions and the gradient exponents exactly.
    func config(runDirectory: String, maxSteps: Int) throws -> RunConfig {
        try ConfigLoader.load(path: nil, overrides: [
            "model.layers=2", "model.heads=2", "model.channels=16", "model.dropout=0.1",
            "data.dataset=\(directory!)/data.h5", "data.batch_size=4", "data.micro_batch_size=2", "data.block_size=16",
            "schedule.warmup=2", "schedule.max_steps=\(maxSteps)", "schedule.decay_steps=8",
            "eval.interval=3", "eval.batches=2", "checkpoint.interval=0", "run_dir=\(runDirectory)", "threads=2",
        ])
    }

    func train(_ config: RunConfig, resume: Bool) throws {
        let task = try GPTTask(config: config, dataset: TokenDataset(path: config.data.dataset))
        let trainer = try Trainer(config: config, task: task, communicator: .world, threads: config.threads, resume: resume,
                                  log: { _ in })
        _ = try trainer.run()
    }

    func modelBytes(_ path: String) throws -> [String: [Float]] {
        let file = try HDF5File(path: path, mode: .readOnly)
        let model = try file.group("model")
        var tensors: [String: [Float]] = [:]
        for name in try model.datasetPaths() { tensors[name] = try model.read(name, as: Float.self) }
        return tensors
    }

    func testResumeIsBitIdentical() throws {
        let straight = directory + "/straight", split = directory + "/split"
        try train(config(runDirectory: straight, maxSteps: 8), resume: false)
        try train(config(runDirectory: split, maxSteps: 4), resume: false)
        try train(config(runDirectory: split, maxSteps: 8), resume: true)
        let a = try modelBytes(straight + "/ckpt.h5"), b = try modelBytes(split + "/ckpt.h5")
        XCTAssertEqual(a.count, b.count)
        for (name, values) in a {
            XCTAssertEqual(values.map(\.bitPattern), b[name]?.map(\.bitPattern), "/model/\(name) differs after resume")
        }
        let ra = try Checkpoint.Reader(path: straight + "/ckpt.h5"), rb = try Checkpoint.Reader(path: split + "/ckpt.h5")
        XCTAssertEqual(ra.header.step, 8)
        XCTAssertEqual(rb.header.step, 8)
        // Same evaluations at the same steps (the split run also evaluated at step 4, where it stopped).
        let straightLosses = try ra.metrics().series["val_loss"]!, splitLosses = try rb.metrics().series["val_loss"]!
        XCTAssertEqual(straightLosses.map(\.step), [0, 3, 6, 8])
        XCTAssertEqual(splitLosses.map(\.step), [0, 3, 4, 6, 8])
        for point in straightLosses {
            XCTAssertEqual(splitLosses.first { $0.step == point.step }?.value, point.value, "val loss at step \(point.step)")
        }
        // The two runs really trained: parameters moved away from the initialisation.
        let fresh = try GPTTask(config: config(runDirectory: directory + "/x", maxSteps: 8), dataset: TokenDataset(path: directory + "/data.h5"))
        fresh.initialize(seed: 1337)
        let initial = fresh.parameters.values.array()
        let trained = try modelBytes(straight + "/ckpt.h5")["blocks/0/attention/query/weight"]!
        let offset = fresh.parameters.entry("blocks/0/attention/query/weight")!.offset
        XCTAssertNotEqual(Array(initial[offset ..< offset + trained.count]), trained)
    }

    /// The gradient a training step hands to the optimizer is the plain float mean gradient over
    /// its micro-batches (to float precision), on the first step and on later ones whose exponents
    /// come from the previous step.
    func testStepGradientIsTheMeanFloatGradient() throws {
        var config = try config(runDirectory: directory + "/run", maxSteps: 4)
        config.model.dropout = 0
        config.optimizer.gradClip = 0
        config.optimizer.weightDecay = 0
        let task = try GPTTask(config: config, dataset: TokenDataset(path: config.data.dataset))
        let trainer = try Trainer(config: config, task: task, communicator: .world, threads: 2, resume: false, log: { _ in })
        for step in 0 ..< 3 {
            trainer.step = step
            // The reference: float gradients of both micro-batches, summed, divided by the tokens.
            task.parameters.gradients.zero()
            var tokens = 0
            for index in 0 ..< 2 {
                tokens += try task.trainMicroBatch(step: step, index: index, parallelism: .serial).count
            }
            let expected = task.parameters.gradients.array().map { $0 / Float(tokens) }
            _ = try trainer.computeGradient()  // the step's gradient, not applied
            let actual = task.parameters.gradients.array()
            var difference: Float = 0, scale: Float = 0
            for i in expected.indices {
                difference = max(difference, abs(actual[i] - expected[i]))
                scale = max(scale, abs(expected[i]))
            }
            XCTAssertLessThan(difference, 1e-5 * scale, "step \(step): max |Δ| \(difference), scale \(scale)")
        }
    }

    func testCheckpointLayoutAndInspect() throws {
        let run = directory + "/run"
        try train(config(runDirectory: run, maxSteps: 3), resume: false)
        let path = run + "/ckpt.h5"
        let file = try HDF5File(path: path, mode: .readOnly)
        XCTAssertEqual(try file.stringAttribute("format"), "trainer-checkpoint")
        XCTAssertEqual(try file.stringAttribute("model_kind"), "gpt")
        XCTAssertEqual(try file.intAttribute("step"), 3)
        XCTAssertEqual(try file.intAttribute("tokens_seen"), 3 * 4 * 16)
        XCTAssertTrue(try file.stringAttribute("config").contains("micro_batch_size: 2"))
        XCTAssertEqual(try file.dataset("model/blocks/1/attention/query/weight").shape, [16, 16])
        XCTAssertEqual(try file.dataset("model/blocks/0/feed_forward/linear1/weight").shape, [64, 16])
        XCTAssertEqual(try file.dataset("optimizer/m/token_embedding/weight").shape, try file.dataset("model/token_embedding/weight").shape)
        XCTAssertEqual(try file.group("optimizer").stringAttribute("kind"), "adamw")
        XCTAssertEqual(try file.group("optimizer").intAttribute("step"), 3)
        XCTAssertEqual(try file.group("tokenizer").stringAttribute("kind"), "char")
        XCTAssertEqual(try file.read("metrics/val_loss/step", as: Int64.self), [0, 3])
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/metrics.jsonl"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/config.yaml"))
        let summary = try Inspect.describe(path: path)
        XCTAssertTrue(summary.contains("/model/blocks/0/attention/query/weight"), summary)
        XCTAssertTrue(summary.contains("checkpoint (gpt), step 3"), summary)
        let datasetSummary = try Inspect.describe(path: directory + "/data.h5")
        XCTAssertTrue(datasetSummary.contains("dataset (lm)"), datasetSummary)
    }

    func testResumeRefusesADatasetWithAnotherTokenizer() throws {
        let run = directory + "/run"
        try train(config(runDirectory: run, maxSteps: 2), resume: false)
        try "xyz xyz xyz xyz xyz xyz xyz xyz xyz xyz xyz xyz".write(toFile: directory + "/other.txt", atomically: true, encoding: .utf8)
        _ = try Prepare.prepareLanguageModel(inputs: [directory + "/other.txt"], output: directory + "/other.h5")
        var other = try config(runDirectory: run, maxSteps: 4)
        other.data.dataset = directory + "/other.h5"
        other.data.blockSize = 8
        XCTAssertThrowsError(try train(other, resume: true)) { error in
            XCTAssertEqual("\(error)", "\(self.directory!)/other.h5: its tokenizer (char, 4 tokens) differs from the checkpoint's (char, \(try! TokenDataset(path: self.directory + "/data.h5").tokenizer.count) tokens); prepare the text with trainer prepare --tokenizer-from \(run)/ckpt.h5")
        }
        // A failed resume leaves the checkpoint as it was.
        XCTAssertEqual(try Checkpoint.Reader(path: run + "/ckpt.h5").header.step, 2)
    }

    func testAtomicWriteKeepsTheOldFileOnFailure() throws {
        let path = directory + "/file.bin"
        try "old".write(toFile: path, atomically: false, encoding: .utf8)
        struct Failure: Error {}
        XCTAssertThrowsError(try AtomicFile.write(to: path) { temporary in
            try "half-writ".write(toFile: temporary, atomically: false, encoding: .utf8)
            throw Failure()
        })
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "old")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".tmp-") }, [])
    }
}

/// bf16 training against fp32 training.
final class BF16TrainingTests: XCTestCase {
    /// 50 steps of the same tiny GPT in fp32 and in bf16 (matrix products with bf16 inputs): the
    /// loss curves stay within 0.03 of each other at every step.
    func testBF16TrainingMatchesFP32Over50Steps() throws {
        try XCTSkipUnless(BF16.isNative, "this CPU lacks avx512_bf16: bf16 training is not run")
        let directory = try makeTemporaryDirectory("bf16")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let corpus = BuiltinCorpus.shakespeareText
        try String(corpus.prefix(60_000)).write(toFile: directory + "/corpus.txt", atomically: true, encoding: .utf8)
        _ = try Prepare.prepareLanguageModel(inputs: [directory + "/corpus.txt"], output: directory + "/data.h5")
        func losses(_ precision: String) throws -> [Double] {
            let config = try ConfigLoader.load(path: nil, overrides: [
                "model.layers=2", "model.heads=2", "model.channels=32", "data.dataset=\(directory)/data.h5",
                "data.batch_size=8", "data.micro_batch_size=4", "data.block_size=32", "schedule.warmup=5",
                "schedule.max_steps=50", "optimizer.lr=3e-3", "eval.interval=0", "eval.batches=1", "checkpoint.interval=0",
                "run_dir=\(directory)/\(precision)", "threads=2", "precision=\(precision)",
            ])
            let task = try GPTTask(config: config, dataset: TokenDataset(path: config.data.dataset))
            let trainer = try Trainer(config: config, task: task, communicator: .world, threads: 2, resume: false, log: { _ in })
            return try (0 ..< 50).map { step in
                trainer.step = step
                return try trainer.trainStep(lr: 3e-3).loss
            }
        }
        let fp32 = try losses("fp32"), bf16 = try losses("bf16")
        let worst = zip(fp32, bf16).map { abs($0 - $1) }.max()!
        print(String(format: "bf16 vs fp32 over 50 steps: loss %.4f → %.4f (fp32) and %.4f → %.4f (bf16), largest gap %.4f",
                     fp32[0], fp32[49], bf16[0], bf16[49], worst))
        XCTAssertLessThan(fp32[49], fp32[0] - 0.5, "the model learns")
        XCTAssertLessThan(worst, 0.03)
        XCTAssertNotEqual(fp32, bf16, "bf16 really ran")
    }

    func testPrecisionChoices() throws {
        XCTAssertEqual(try PrecisionChoice.fp32.resolved(nativeBF16: false), .fp32)
        XCTAssertEqual(try PrecisionChoice.auto.resolved(nativeBF16: false), .fp32)
        XCTAssertEqual(try PrecisionChoice.auto.resolved(nativeBF16: true), .bf16)
        XCTAssertEqual(try PrecisionChoice.bf16.resolved(nativeBF16: true), .bf16)
        XCTAssertThrowsError(try PrecisionChoice.bf16.resolved(nativeBF16: false)) { error in
            XCTAssertTrue((error as? TrainerError)?.message.hasPrefix("config: precision bf16 needs a CPU with native bf16") == true)
        }
        XCTAssertEqual(try ConfigLoader.load(path: nil, overrides: ["precision=auto"]).precision, .auto)
        XCTAssertThrowsError(try ConfigLoader.load(path: nil, overrides: ["precision=fp16"]))
    }
}
