import XCTest
import TrainerKit

final class DropoutTests: XCTestCase {
    let stream = RandomStream(seed: 1337, 3, 1, 42)

    func testZeroProbabilityIsIdentity() {
        var random = TestRandom(seed: 70)
        let x = random.buffer(50), y = FloatBuffer(count: 50)
        Dropout.forward(output: y.pointer, input: x.readPointer, count: 50, probability: 0, stream: stream)
        assertIdentical(x, y, "dropout p=0")
    }

    func testMaskRateScaleAndNaiveTwin() {
        let n = 100_003, p: Float = 0.2
        let x = FloatBuffer(count: n)
        for i in 0 ..< n { x[i] = 1 }
        let y = FloatBuffer(count: n), yRef = FloatBuffer(count: n)
        Dropout.forward(output: y.pointer, input: x.readPointer, count: n, probability: p, stream: stream,
                        parallelism: Parallelism(threads: 3))
        Dropout.forwardNaive(output: yRef.pointer, input: x.readPointer, count: n, probability: p, stream: stream)
        assertClose(y, yRef, tolerance: 1e-6, "dropout vs naive")
        let dropped = y.array().filter { $0 == 0 }.count
        XCTAssertEqual(Double(dropped) / Double(n), Double(p), accuracy: 0.005)
        XCTAssertEqual(y.array().first { $0 != 0 } ?? 0, 1.25, accuracy: 1e-6)
    }

    func testMaskDependsOnlyOnStream() {
        var random = TestRandom(seed: 71)
        let n = 1000
        let x = random.buffer(n)
        func run(_ s: RandomStream, threads: Int) -> FloatBuffer {
            let y = FloatBuffer(count: n)
            Dropout.forward(output: y.pointer, input: x.readPointer, count: n, probability: 0.5, stream: s,
                            parallelism: Parallelism(threads: threads))
            return y
        }
        assertIdentical(run(stream, threads: 1), run(stream, threads: 4), "same stream, other thread count")
        let other = run(RandomStream(seed: 1337, 3, 2, 42), threads: 1)  // another micro-batch
        XCTAssertNotEqual(run(stream, threads: 1).array(), other.array())
    }

    func testBackwardUsesTheSameMaskAndFiniteDifferences() {
        var random = TestRandom(seed: 72)
        let n = 40, p: Float = 0.3
        let x = random.buffer(n), weights = random.buffer(n), y = FloatBuffer(count: n)
        func loss() -> Double {
            Dropout.forward(output: y.pointer, input: x.readPointer, count: n, probability: p, stream: stream)
            return weightedSum(y, weights)
        }
        _ = loss()
        let dx = FloatBuffer(count: n)
        Dropout.backward(inputGradient: dx.pointer, outputGradient: weights.readPointer, count: n, probability: p,
                         stream: stream, parallelism: Parallelism(threads: 2))
        for i in 0 ..< n { XCTAssertEqual(dx[i] == 0, y[i] == 0) }
        checkGradient("dropout dx", tensor: x, analytic: dx, samples: n, loss: loss)
    }
}

final class CrossEntropyTests: XCTestCase {
    let N = 6, V = 7

    func testMatchesNaiveWithSmoothingAndIgnoreIndex() {
        var random = TestRandom(seed: 80)
        let logits = random.buffer(N * V, scale: 3)
        var targets = random.tokens(N, below: V)
        targets[2] = -100
        for smoothing: Float in [0, 0.1] {
            let losses = FloatBuffer(count: N), lossesRef = FloatBuffer(count: N), probs = FloatBuffer(count: N * V)
            let (total, totalRef) = targets.withUnsafeBufferPointer { t in
                (CrossEntropy.forward(losses: losses.pointer, probabilities: probs.pointer, logits: logits.readPointer,
                                      targets: t.baseAddress!, rows: N, classes: V, labelSmoothing: smoothing,
                                      parallelism: Parallelism(threads: 2)),
                 CrossEntropy.forwardNaive(losses: lossesRef.pointer, logits: logits.readPointer, targets: t.baseAddress!,
                                           rows: N, classes: V, labelSmoothing: smoothing))
            }
            assertClose(losses, lossesRef, tolerance: 1e-5, "cross-entropy losses ε=\(smoothing)")
            XCTAssertEqual(total.count, N - 1)
            XCTAssertEqual(totalRef.count, N - 1)
            XCTAssertEqual(total.sum, totalRef.sum, accuracy: 1e-4)
            XCTAssertEqual(losses[2], 0)
        }
    }

    func testFiniteDifferencesOfTheMeanLoss() {
        var random = TestRandom(seed: 81)
        let logits = random.buffer(N * V, scale: 2)
        var targets = random.tokens(N, below: V)
        targets[4] = -1
        let losses = FloatBuffer(count: N), probs = FloatBuffer(count: N * V)
        targets.withUnsafeBufferPointer { t in
            for smoothing: Float in [0, 0.1] {
                func loss() -> Double {
                    CrossEntropy.forward(losses: losses.pointer, probabilities: probs.pointer, logits: logits.readPointer,
                                         targets: t.baseAddress!, rows: N, classes: V, labelSmoothing: smoothing,
                                         ignoreIndex: -1).mean
                }
                let total = CrossEntropy.forward(losses: losses.pointer, probabilities: probs.pointer,
                                                 logits: logits.readPointer, targets: t.baseAddress!, rows: N, classes: V,
                                                 labelSmoothing: smoothing, ignoreIndex: -1)
                let dlogits = FloatBuffer(count: N * V)
                CrossEntropy.backward(logitsGradient: dlogits.pointer, probabilities: probs.readPointer,
                                      targets: t.baseAddress!, rows: N, classes: V, labelSmoothing: smoothing,
                                      ignoreIndex: -1, scale: 1 / Float(total.count), parallelism: Parallelism(threads: 2))
                for j in 0 ..< V { XCTAssertEqual(dlogits[4 * V + j], 0, "ignored row has no gradient") }
                checkGradient("cross-entropy ε=\(smoothing) dlogits", tensor: logits, analytic: dlogits, samples: N * V,
                              step: 1e-2, loss: loss)
            }
        }
    }

    func testInPlaceProbabilitiesAndUniformLogits() {
        // Uniform logits: every class has probability 1/V, loss = log V whatever the smoothing.
        let logits = FloatBuffer(count: 2 * V), losses = FloatBuffer(count: 2)
        let targets: [Int32] = [3, 0]
        let total = CrossEntropy.forward(losses: losses.pointer, probabilities: logits.pointer, logits: logits.readPointer,
                                         targets: targets, rows: 2, classes: V, labelSmoothing: 0.1)
        XCTAssertEqual(total.mean, log(Double(V)), accuracy: 1e-6)
        XCTAssertEqual(logits[5], 1 / Float(V), accuracy: 1e-7)
    }
}
