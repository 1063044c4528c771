import XCTest
import TrainerKit

final class GPTTests: XCTestCase {
    func makeModel(tied: Bool, dropout: Float = 0, activation: Activation = .gelu) -> GPTModel {
        let config = modelConfig(positions: 7, channels: 8, heads: 2, layers: 2, feedForward: 16, activation: activation,
                                 dropout: Double(dropout), tieEmbeddings: tied)
        let model = GPTModel(config: config, vocabulary: 11, limits: ActivationLimits(batch: 3, time: 7))
        model.initialize(seed: 3)
        // Larger weights than nanoGPT's 0.02 so that every path carries a visible gradient.
        var random = TestRandom(seed: 9)
        for i in 0 ..< model.parameters.count { model.parameters.values[i] += random.uniform(0.3) }
        return model
    }

    /// Finite differences of the mean loss with respect to sampled entries of every parameter
    /// tensor, through the whole model (embeddings, blocks, final norm, head, cross-entropy).
    func testFiniteDifferencesThroughTheWholeModel() {
        // ReLU's kink needs a small step; the smooth activations take a larger, less noisy one.
        for (tied, dropout, activation, step) in [(true, Float(0), Activation.gelu, Float(1e-2)),
                                                  (false, 0.2, .geluTanh, 1e-2), (true, 0, .relu, 1e-3)] {
            let model = makeModel(tied: tied, dropout: dropout, activation: activation)
            let B = 3, T = 6
            var random = TestRandom(seed: 4)
            let tokens = random.tokens(B * T, below: 11), targets = random.tokens(B * T, below: 11)
            let context = dropout > 0 ? DropoutContext(seed: 1, step: 2, microBatch: 3, probability: dropout) : nil
            func loss() -> Double {
                model.forward(tokens: tokens, targets: targets, batch: B, time: T, dropout: context,
                              parallelism: .serial)!.mean
            }
            let total = model.forward(tokens: tokens, targets: targets, batch: B, time: T, dropout: context,
                                      parallelism: Parallelism(threads: 2))!
            XCTAssertEqual(total.count, B * T)
            model.parameters.gradients.zero()
            model.backward(lossScale: 1 / Float(total.count))
            for entry in model.parameters.entries {
                let analytic = FloatBuffer(count: entry.count)
                for i in 0 ..< entry.count { analytic[i] = model.parameters.gradients[entry.offset + i] }
                if entry.name.hasSuffix("key/bias") {
                    // Adding the same vector to every key shifts all of a query's scores equally:
                    // the softmax, and so the loss, does not change. The gradient is exactly zero.
                    XCTAssertLessThan(analytic.array().map(abs).max()!, 1e-5, entry.name)
                    continue
                }
                // Perturb a copy of the tensor and write it back into the flat buffer before each loss.
                let view = ParameterSlice(values: model.parameters.values, offset: entry.offset, count: entry.count)
                checkGradient("GPT tied=\(tied) dropout=\(dropout) \(activation) \(entry.name)", tensor: view.buffer,
                              analytic: analytic, samples: 6, step: step, tolerance: 2e-2) {
                    view.writeBack()
                    return loss()
                }
                view.writeBack()
            }
        }
    }

    func testLearnsARepeatingSequence() {
        let model = makeModel(tied: true)
        let B = 2, T = 6
        let tokens: [Int32] = (0 ..< B * T).map { Int32($0 % 5) }, targets: [Int32] = (0 ..< B * T).map { Int32(($0 + 1) % 5) }
        var first = 0.0, last = 0.0
        for step in 0 ..< 60 {
            let total = model.forward(tokens: tokens, targets: targets, batch: B, time: T, parallelism: .serial)!
            if step == 0 { first = total.mean }
            last = total.mean
            model.parameters.gradients.zero()
            model.backward(lossScale: 1 / Float(total.count))
            for i in 0 ..< model.parameters.count { model.parameters.values[i] -= 0.2 * model.parameters.gradients[i] }
        }
        XCTAssertLessThan(last, first * 0.2, "plain SGD on a repeating sequence: loss \(first) → \(last)")
    }
}

/// A copy of one tensor of the flat parameter buffer that can be written back after perturbation.
private struct ParameterSlice {
    let values: FloatBuffer, offset: Int, count: Int
    let buffer: FloatBuffer

    init(values: FloatBuffer, offset: Int, count: Int) {
        self.values = values
        self.offset = offset
        self.count = count
        buffer = FloatBuffer(count: count)
        for i in 0 ..< count { buffer[i] = values[offset + i] }
    }

    func writeBack() {
        for i in 0 ..< count { values[offset + i] = buffer[i] }
    }
}
