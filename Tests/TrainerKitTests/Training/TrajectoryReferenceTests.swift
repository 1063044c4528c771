import Foundation
import XCTest
import TrainerKit

/// The whole training step — micro-batch forward/backward, exact gradient sum, clipping, AdamW, the
/// learning-rate schedule — against 10 steps computed independently by JAX autodiff in float64
/// (Fixtures/make_trajectory.py → Fixtures/trajectory.h5), from the same initial weights and batches.
final class TrajectoryReferenceTests: XCTestCase {
    /// A GPT task that feeds the fixture's batches instead of sampling a dataset.
    final class FixtureTask: TrainingTask {
        let modelKind = "gpt"
        let model: GPTModel
        let tokenizer: Tokenizer
        let inputs: [Int32], targets: [Int32]
        let initial: [String: [Float]]
        let sequences: Int, time: Int, microBatches: Int
        var parameters: ParameterStore { model.parameters }
        var flopsPerMicroBatch: Double { 1 }
        var tokensPerMicroBatch: Int { sequences * time }

        init(file: HDF5File) throws {
            let V = try file.intAttribute("vocabulary")
            sequences = try file.intAttribute("sequences")
            time = try file.intAttribute("positions")
            microBatches = try file.intAttribute("micro_batches")
            let config = modelConfig(positions: time, channels: try file.intAttribute("channels"),
                                     heads: try file.intAttribute("heads"), layers: try file.intAttribute("layers"),
                                     feedForward: try file.intAttribute("feed_forward"))
            model = GPTModel(config: config, vocabulary: V, limits: ActivationLimits(batch: sequences, time: time))
            tokenizer = CharTokenizer(scalars: Set((0 ..< V).map { UInt32(0x61 + $0) }))
            inputs = try file.read("inputs", as: Int32.self)
            targets = try file.read("targets", as: Int32.self)
            var initial: [String: [Float]] = [:]
            for entry in model.parameters.entries { initial[entry.name] = try file.read("init/" + entry.name, as: Float.self) }
            self.initial = initial
        }

        func initialize(seed: UInt64) {
            for entry in parameters.entries {
                parameters.values.pointer.advanced(by: entry.offset).update(from: initial[entry.name]!, count: entry.count)
            }
        }

        func trainMicroBatch(step: Int, index: Int, parallelism: Parallelism,
                             gradientsReady: ((Range<Int>) -> Void)?) throws -> CrossEntropy.Total {
            let offset = (step * microBatches + index) * sequences * time
            let x = Array(inputs[offset ..< offset + sequences * time]), y = Array(targets[offset ..< offset + sequences * time])
            let total = model.forward(tokens: x, targets: y, batch: sequences, time: time, parallelism: parallelism)!
            model.backward(lossScale: 1, gradientsReady: gradientsReady)
            return total
        }

        func evaluateMicroBatch(split: TokenDataset.Split, index: Int, parallelism: Parallelism) throws -> CrossEntropy.Total {
            CrossEntropy.Total()
        }

        func evaluationBatches(_ split: TokenDataset.Split) -> Int { 0 }
    }

    func testTenStepsMatchJAX() throws {
        let file = try HDF5File(path: fixturePath("trajectory.h5"), mode: .readOnly)
        let task = try FixtureTask(file: file)
        let steps = try file.intAttribute("steps")
        var config = try ConfigLoader.load(path: nil)
        config.data.batchSize = task.microBatches * task.sequences
        config.data.microBatchSize = task.sequences
        config.data.blockSize = task.time
        config.optimizer.lr = try file.doubleAttribute("lr")
        config.optimizer.beta1 = try file.doubleAttribute("beta1")
        config.optimizer.beta2 = try file.doubleAttribute("beta2")
        config.optimizer.eps = try file.doubleAttribute("eps")
        config.optimizer.weightDecay = try file.doubleAttribute("weight_decay")
        config.optimizer.gradClip = try file.doubleAttribute("grad_clip")
        config.schedule.warmup = try file.intAttribute("warmup")
        config.schedule.decaySteps = try file.intAttribute("decay_steps")
        config.schedule.minLR = try file.doubleAttribute("min_lr")
        config.schedule.maxSteps = steps
        // The trainer locks its run directory: a folder of the test's own, not the default runs/default.
        config.runDirectory = try makeTemporaryDirectory("trajectory")
        defer { try? FileManager.default.removeItem(atPath: config.runDirectory) }
        let trainer = try Trainer(config: config, task: task, communicator: .world, threads: 2, resume: false, log: { _ in })
        let schedule = LearningRateSchedule(peak: config.optimizer.lr, minimum: config.schedule.minLR,
                                            warmup: config.schedule.warmup, decaySteps: config.schedule.decaySteps)
        let expectedLosses = try file.read("losses", as: Double.self), expectedNorms = try file.read("grad_norms", as: Double.self)
        for step in 0 ..< steps {
            trainer.step = step
            let (loss, norm) = try trainer.trainStep(lr: schedule.rate(at: step))
            print(String(format: "trajectory step %d: loss %.6f (JAX %.6f), grad norm %.6f (JAX %.6f)", step, loss,
                         expectedLosses[step], norm, expectedNorms[step]))
            XCTAssertEqual(loss, expectedLosses[step], accuracy: 2e-5 * expectedLosses[step], "loss at step \(step)")
            XCTAssertEqual(norm, expectedNorms[step], accuracy: 1e-4 * expectedNorms[step], "grad norm at step \(step)")
        }
        // Every parameter after 10 updates. The key biases are excluded: they cannot change the loss
        // (softmax is invariant to adding one constant to all of a query's scores), so their
        // gradient is float32 rounding noise that Adam normalises into steps of ~lr.
        var worst = 0.0
        for entry in task.parameters.entries where !entry.name.hasSuffix("key/bias") {
            let expected = try file.read("final/" + entry.name, as: Double.self)
            for i in 0 ..< entry.count {
                worst = max(worst, abs(Double(task.parameters.values[entry.offset + i]) - expected[i]))
            }
        }
        print(String(format: "trajectory: max |Δ parameter| after %d steps = %.2e (learning rate %.0e)", steps, worst, config.optimizer.lr))
        XCTAssertLessThan(worst, 1e-4)
    }
}
