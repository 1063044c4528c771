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

    /// The mask is exactly the reference one (`keeps`, word by word from Philox.block), and kept
    /// values are exactly input·(1/(1 − p)), for every alignment of start and count, in every
    /// piece of a multi-threaded run, forward and backward.
    func testMaskAndValuesAreBitForBitTheReference() {
        var random = TestRandom(seed: 73)
        let n = 1003
        let x = random.buffer(n, scale: 3), dy = random.buffer(n)
        for (p, s) in [(Float(0.1), RandomStream(seed: 9, 1, 2, 3)), (0.5, stream), (0.9, RandomStream(seed: 1 << 40, 7, 0, 5))] {
            let scale = 1 / (1 - p)
            for threads in [1, 3] {
                let y = FloatBuffer(count: n), dx = random.buffer(n), dxStart = dx.array()
                Dropout.forward(output: y.pointer, input: x.readPointer, count: n, probability: p, stream: s,
                                parallelism: Parallelism(threads: threads))
                Dropout.backward(inputGradient: dx.pointer, outputGradient: dy.readPointer, count: n, probability: p,
                                 stream: s, parallelism: Parallelism(threads: threads))
                var kept = 0
                for i in 0 ..< n {
                    let keep = Dropout.keeps(i, stream: s, probability: p)
                    kept += keep ? 1 : 0
                    XCTAssertEqual(y[i].bitPattern, (x[i] * (keep ? scale : 0)).bitPattern, "p \(p) element \(i)")
                    XCTAssertEqual(dx[i].bitPattern, (dxStart[i] + dy[i] * (keep ? scale : 0)).bitPattern, "p \(p) dx \(i)")
                }
                XCTAssertEqual(Double(kept) / Double(n), Double(1 - p), accuracy: 0.06, "p \(p) keep rate")
                let yRef = FloatBuffer(count: n)
                Dropout.forwardNaive(output: yRef.pointer, input: x.readPointer, count: n, probability: p, stream: s)
                assertClose(y, yRef, tolerance: 1e-6, "dropout p \(p) vs naive")
                let dxRef = FloatBuffer(dxStart)
                Dropout.backwardNaive(inputGradient: dxRef.pointer, outputGradient: dy.readPointer, count: n, probability: p,
                                      stream: s)
                assertClose(dx, dxRef, tolerance: 1e-6, "dropout backward p \(p) vs naive")
            }
        }
        // Multipliers for spans starting anywhere in a Philox block and ending anywhere.
        let m = FloatBuffer(count: 80)
        for start in [0, 1, 2, 3, 5, 126, 1 << 33] {
            for count in [0, 1, 3, 4, 7, 31, 32, 33, 63, 64, 65, 80] {
                m.pointer.update(repeating: -1, count: 80)
                Dropout.fillMultipliers(m.pointer, start: start, count: count, probability: 0.3, stream: stream)
                for i in 0 ..< 80 {
                    let kept = Dropout.keeps(start + i, stream: stream, probability: 0.3)
                    let expected: Float = i >= count ? -1 : kept ? 1 / (1 - Float(0.3)) : 0
                    XCTAssertEqual(m[i], expected, "multipliers start \(start) count \(count) element \(i)")
                }
            }
        }
    }

    func testDropoutResidualMatchesNaiveAndUnfusedKernels() {
        var random = TestRandom(seed: 74)
        let n = 517, p: Float = 0.25
        let a = random.buffer(n), b = random.buffer(n, scale: 2), dy = random.buffer(n)
        let y = FloatBuffer(count: n), yRef = FloatBuffer(count: n)
        Dropout.forward(output: y.pointer, residual: a.readPointer, input: b.readPointer, count: n, probability: p,
                        stream: stream, parallelism: Parallelism(threads: 3))
        Dropout.forwardNaive(output: yRef.pointer, residual: a.readPointer, input: b.readPointer, count: n, probability: p,
                             stream: stream)
        assertClose(y, yRef, tolerance: 1e-6, "dropout + residual vs naive")
        // Bit-identical to dropout, then the residual add (how ResidualSublayer does it today), also in place.
        let separate = FloatBuffer(count: n), inPlace = FloatBuffer(a.array())
        Dropout.forward(output: separate.pointer, input: b.readPointer, count: n, probability: p, stream: stream)
        Residual.forward(output: separate.pointer, separate.readPointer, a.readPointer, count: n)
        assertIdentical(y, separate, "dropout + residual vs dropout then residual")
        Dropout.forward(output: inPlace.pointer, residual: inPlace.readPointer, input: b.readPointer, count: n,
                        probability: p, stream: stream, parallelism: Parallelism(threads: 2))
        assertIdentical(inPlace, y, "dropout + residual in place")

        let db = random.buffer(n), da = random.buffer(n)
        let dbRef = FloatBuffer(db.array()), daRef = FloatBuffer(da.array()), daStart = da.array()
        Dropout.backward(inputGradient: db.pointer, residualGradient: da.pointer, outputGradient: dy.readPointer, count: n,
                         probability: p, stream: stream, parallelism: Parallelism(threads: 3))
        Dropout.backwardNaive(inputGradient: dbRef.pointer, residualGradient: daRef.pointer, outputGradient: dy.readPointer,
                              count: n, probability: p, stream: stream)
        assertClose(db, dbRef, tolerance: 1e-6, "dropout + residual d input vs naive")
        for i in 0 ..< n { XCTAssertEqual(da[i], daStart[i] + dy[i], "d residual \(i) accumulates") }
        // Without a residual gradient it is the plain dropout backward, bit for bit.
        let dbAlone = random.buffer(n), dbPlain = FloatBuffer(dbAlone.array())
        Dropout.backward(inputGradient: dbAlone.pointer, residualGradient: nil, outputGradient: dy.readPointer, count: n,
                         probability: p, stream: stream, parallelism: Parallelism(threads: 2))
        Dropout.backward(inputGradient: dbPlain.pointer, outputGradient: dy.readPointer, count: n, probability: p,
                         stream: stream)
        assertIdentical(dbAlone, dbPlain, "dropout + residual backward without residual gradient")
        // p = 0: a residual connection.
        let sum = FloatBuffer(count: n)
        Dropout.forward(output: sum.pointer, residual: a.readPointer, input: b.readPointer, count: n, probability: 0,
                        stream: stream)
        for i in 0 ..< n { XCTAssertEqual(sum[i], a[i] + b[i]) }
    }

    func testDropoutResidualFiniteDifferences() {
        var random = TestRandom(seed: 75)
        let n = 45, p: Float = 0.3
        let a = random.buffer(n), b = random.buffer(n), weights = random.buffer(n), y = FloatBuffer(count: n)
        func loss() -> Double {
            Dropout.forward(output: y.pointer, residual: a.readPointer, input: b.readPointer, count: n, probability: p,
                            stream: stream)
            return weightedSum(y, weights)
        }
        let da = FloatBuffer(count: n), db = FloatBuffer(count: n)
        Dropout.backward(inputGradient: db.pointer, residualGradient: da.pointer, outputGradient: weights.readPointer,
                         count: n, probability: p, stream: stream, parallelism: Parallelism(threads: 2))
        checkGradient("dropout + residual d residual", tensor: a, analytic: da, samples: n, loss: loss)
        checkGradient("dropout + residual d input", tensor: b, analytic: db, samples: n, loss: loss)
    }

    func testSameOnEveryInstructionSet() throws {
        var random = TestRandom(seed: 76)
        let n = 2_051
        let x = random.buffer(n), r = random.buffer(n), dy = random.buffer(n)
        try assertSameOnEveryInstructionSet("dropout") {
            let y = FloatBuffer(count: n), yResidual = FloatBuffer(count: n), dx = FloatBuffer(count: n)
            let dxFused = FloatBuffer(count: n), dr = FloatBuffer(count: n), m = FloatBuffer(count: 1000)
            let threads = Parallelism(threads: 3)  // pieces that start inside a Philox block
            Dropout.forward(output: y.pointer, input: x.readPointer, count: n, probability: 0.4, stream: stream,
                            parallelism: threads)
            Dropout.forward(output: yResidual.pointer, residual: r.readPointer, input: x.readPointer, count: n,
                            probability: 0.4, stream: stream, parallelism: threads)
            Dropout.backward(inputGradient: dx.pointer, outputGradient: dy.readPointer, count: n, probability: 0.4,
                             stream: stream, parallelism: threads)
            Dropout.backward(inputGradient: dxFused.pointer, residualGradient: dr.pointer, outputGradient: dy.readPointer,
                             count: n, probability: 0.4, stream: stream, parallelism: threads)
            Dropout.fillMultipliers(m.pointer, start: 7, count: 1000, probability: 0.4, stream: stream)
            return [y, yResidual, dx, dxFused, dr, m]
        }
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

    /// With label smoothing the total also carries Σ −log p_t, the plain cross-entropy that
    /// perplexity is made of: the smoothed loss with ε = 0, and the naive twin's, and it differs
    /// from the smoothed sum.
    func testTheUnsmoothedSumIsThePlainCrossEntropy() {
        var random = TestRandom(seed: 82)
        let logits = random.buffer(N * V, scale: 3)
        var targets = random.tokens(N, below: V)
        targets[1] = -100
        let losses = FloatBuffer(count: N), probs = FloatBuffer(count: N * V)
        let (smoothed, plain, naive) = targets.withUnsafeBufferPointer { t in
            (CrossEntropy.forward(losses: losses.pointer, probabilities: probs.pointer, logits: logits.readPointer,
                                  targets: t.baseAddress!, rows: N, classes: V, labelSmoothing: 0.1, parallelism: Parallelism(threads: 2)),
             CrossEntropy.forward(losses: losses.pointer, probabilities: probs.pointer, logits: logits.readPointer,
                                  targets: t.baseAddress!, rows: N, classes: V),
             CrossEntropy.forwardNaive(losses: losses.pointer, logits: logits.readPointer, targets: t.baseAddress!, rows: N,
                                       classes: V, labelSmoothing: 0.1))
        }
        XCTAssertEqual(plain.unsmoothedSum, plain.sum, "no smoothing: the two sums are one")
        XCTAssertEqual(smoothed.unsmoothedSum, plain.sum, accuracy: 1e-4)
        XCTAssertEqual(smoothed.unsmoothedSum, naive.unsmoothedSum, accuracy: 1e-4)
        XCTAssertEqual(smoothed.sum, naive.sum, accuracy: 1e-4)
        XCTAssertGreaterThan(abs(smoothed.sum - smoothed.unsmoothedSum), 1e-2, "smoothing changes the loss")
        XCTAssertEqual(smoothed.unsmoothedMean, smoothed.unsmoothedSum / Double(N - 1), accuracy: 1e-12)
        let both = smoothed + plain
        XCTAssertEqual(both.count, 2 * (N - 1))
        XCTAssertEqual(both.unsmoothedSum, smoothed.unsmoothedSum + plain.unsmoothedSum, accuracy: 1e-12)
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
