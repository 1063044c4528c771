import XCTest
import TrainerKit

final class LayerNormTests: XCTestCase {
    let N = 6, C = 10

    func testForwardAndBackwardMatchNaive() {
        var random = TestRandom(seed: 10)
        let x = random.buffer(N * C, scale: 3), w = random.buffer(C), b = random.buffer(C), dy = random.buffer(N * C)
        let y = FloatBuffer(count: N * C), mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N)
        let yRef = FloatBuffer(count: N * C), meanRef = FloatBuffer(count: N), rstdRef = FloatBuffer(count: N)
        LayerNorm.forward(output: y.pointer, mean: mean.pointer, reciprocalStd: rstd.pointer, input: x.readPointer,
                          weight: w.readPointer, bias: b.readPointer, rows: N, channels: C, parallelism: Parallelism(threads: 2))
        LayerNorm.forwardNaive(output: yRef.pointer, mean: meanRef.pointer, reciprocalStd: rstdRef.pointer,
                               input: x.readPointer, weight: w.readPointer, bias: b.readPointer, rows: N, channels: C)
        assertClose(y, yRef, tolerance: 1e-5, "layer norm output")
        assertClose(mean, meanRef, tolerance: 1e-5, "layer norm mean")
        assertClose(rstd, rstdRef, tolerance: 1e-5, "layer norm 1/std")

        let dx = random.buffer(N * C), dw = random.buffer(C), db = random.buffer(C)
        let dxRef = FloatBuffer(dx.array()), dwRef = FloatBuffer(dw.array()), dbRef = FloatBuffer(db.array())
        LayerNorm.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                           outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer,
                           mean: mean.readPointer, reciprocalStd: rstd.readPointer, rows: N, channels: C,
                           parallelism: Parallelism(threads: 3))
        LayerNorm.backwardNaive(inputGradient: dxRef.pointer, weightGradient: dwRef.pointer, biasGradient: dbRef.pointer,
                                outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer,
                                mean: mean.readPointer, reciprocalStd: rstd.readPointer, rows: N, channels: C)
        assertClose(dx, dxRef, tolerance: 1e-5, "layer norm dx")
        assertClose(dw, dwRef, tolerance: 1e-5, "layer norm dweight")
        assertClose(db, dbRef, tolerance: 1e-5, "layer norm dbias")
    }

    func testFiniteDifferences() {
        var random = TestRandom(seed: 11)
        let x = random.buffer(N * C, scale: 2), w = random.buffer(C), b = random.buffer(C), weights = random.buffer(N * C)
        let y = FloatBuffer(count: N * C), mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N)
        func loss() -> Double {
            LayerNorm.forward(output: y.pointer, mean: mean.pointer, reciprocalStd: rstd.pointer, input: x.readPointer,
                              weight: w.readPointer, bias: b.readPointer, rows: N, channels: C, epsilon: 1e-3)
            return weightedSum(y, weights)
        }
        _ = loss()
        let dx = FloatBuffer(count: N * C), dw = FloatBuffer(count: C), db = FloatBuffer(count: C)
        LayerNorm.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                           outputGradient: weights.readPointer, input: x.readPointer, weight: w.readPointer,
                           mean: mean.readPointer, reciprocalStd: rstd.readPointer, rows: N, channels: C)
        checkGradient("layer norm dx", tensor: x, analytic: dx, step: 1e-3, loss: loss)
        checkGradient("layer norm dweight", tensor: w, analytic: dw, loss: loss)
        checkGradient("layer norm dbias", tensor: b, analytic: db, loss: loss)
    }

    func testEpsilonIsUsed() {
        // A constant row has zero variance: the output is exactly the bias and 1/σ = 1/√eps.
        let x = FloatBuffer([2, 2, 2, 2]), w = FloatBuffer([1, 1, 1, 1]), b = FloatBuffer([0.5, -0.5, 1, 0])
        let y = FloatBuffer(count: 4), mean = FloatBuffer(count: 1), rstd = FloatBuffer(count: 1)
        LayerNorm.forward(output: y.pointer, mean: mean.pointer, reciprocalStd: rstd.pointer, input: x.readPointer,
                          weight: w.readPointer, bias: b.readPointer, rows: 1, channels: 4, epsilon: 0.25)
        XCTAssertEqual(rstd[0], 2, accuracy: 1e-6)
        XCTAssertEqual(y.array(), b.array())
    }

    func testRepeatedRunsAndThreadCountsAreBitIdentical() {
        var random = TestRandom(seed: 12)
        let rows = 200, C = 48
        let x = random.buffer(rows * C), w = random.buffer(C), b = random.buffer(C), dy = random.buffer(rows * C)
        func run(_ threads: Int) -> [FloatBuffer] {
            let y = FloatBuffer(count: rows * C), mean = FloatBuffer(count: rows), rstd = FloatBuffer(count: rows)
            let dx = FloatBuffer(count: rows * C), dw = FloatBuffer(count: C), db = FloatBuffer(count: C)
            LayerNorm.forward(output: y.pointer, mean: mean.pointer, reciprocalStd: rstd.pointer, input: x.readPointer,
                              weight: w.readPointer, bias: b.readPointer, rows: rows, channels: C,
                              parallelism: Parallelism(threads: threads))
            LayerNorm.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                               outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer,
                               mean: mean.readPointer, reciprocalStd: rstd.readPointer, rows: rows, channels: C,
                               parallelism: Parallelism(threads: threads))
            return [y, dx, dw, db]
        }
        let reference = run(2)
        for (a, b) in zip(reference, run(2)) { assertIdentical(a, b, "layer norm repeat") }
        // The weight/bias reduction uses fixed row blocks, so even the thread count does not matter.
        for (a, b) in zip(reference, run(1)) { assertIdentical(a, b, "layer norm 1 vs 2 threads") }
    }

    /// Widths around the vector and partial-sum sizes (the row sums keep 32 partial sums).
    func testWidthsMatchNaive() {
        var random = TestRandom(seed: 13)
        let N = 5
        for C in [1, 7, 16, 31, 32, 33, 63, 100, 384] {
            let x = random.buffer(N * C, scale: 3), w = random.buffer(C), b = random.buffer(C), dy = random.buffer(N * C)
            x[0] += 50  // a mean far from zero must not cost precision (two-pass variance)
            let y = FloatBuffer(count: N * C), mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N)
            let yRef = FloatBuffer(count: N * C), meanRef = FloatBuffer(count: N), rstdRef = FloatBuffer(count: N)
            LayerNorm.forward(output: y.pointer, mean: mean.pointer, reciprocalStd: rstd.pointer, input: x.readPointer,
                              weight: w.readPointer, bias: b.readPointer, rows: N, channels: C, parallelism: Parallelism(threads: 2))
            LayerNorm.forwardNaive(output: yRef.pointer, mean: meanRef.pointer, reciprocalStd: rstdRef.pointer,
                                   input: x.readPointer, weight: w.readPointer, bias: b.readPointer, rows: N, channels: C)
            assertClose(y, yRef, tolerance: 1e-5, "layer norm C=\(C) output")
            assertClose(mean, meanRef, tolerance: 1e-5, "layer norm C=\(C) mean")
            assertClose(rstd, rstdRef, tolerance: 1e-5, "layer norm C=\(C) 1/std")
            let dx = random.buffer(N * C), dw = random.buffer(C), db = random.buffer(C)
            let dxRef = FloatBuffer(dx.array()), dwRef = FloatBuffer(dw.array()), dbRef = FloatBuffer(db.array())
            LayerNorm.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                               outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer,
                               mean: mean.readPointer, reciprocalStd: rstd.readPointer, rows: N, channels: C,
                               parallelism: Parallelism(threads: 2))
            LayerNorm.backwardNaive(inputGradient: dxRef.pointer, weightGradient: dwRef.pointer, biasGradient: dbRef.pointer,
                                    outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer,
                                    mean: mean.readPointer, reciprocalStd: rstd.readPointer, rows: N, channels: C)
            assertClose(dx, dxRef, tolerance: 2e-5, "layer norm C=\(C) dx")
            assertClose(dw, dwRef, tolerance: 1e-5, "layer norm C=\(C) dweight")
            assertClose(db, dbRef, tolerance: 1e-5, "layer norm C=\(C) dbias")
        }
    }

    func testSameOnEveryInstructionSet() throws {
        var random = TestRandom(seed: 14)
        let rows = 130, C = 77  // two reduction blocks and a partial one; C not a multiple of 32
        let x = random.buffer(rows * C, scale: 2), w = random.buffer(C), b = random.buffer(C), dy = random.buffer(rows * C)
        try assertSameOnEveryInstructionSet("layer norm") {
            let y = FloatBuffer(count: rows * C), mean = FloatBuffer(count: rows), rstd = FloatBuffer(count: rows)
            let dx = FloatBuffer(count: rows * C), dw = FloatBuffer(count: C), db = FloatBuffer(count: C)
            LayerNorm.forward(output: y.pointer, mean: mean.pointer, reciprocalStd: rstd.pointer, input: x.readPointer,
                              weight: w.readPointer, bias: b.readPointer, rows: rows, channels: C,
                              parallelism: Parallelism(threads: 2))
            LayerNorm.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                               outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer,
                               mean: mean.readPointer, reciprocalStd: rstd.readPointer, rows: rows, channels: C,
                               parallelism: Parallelism(threads: 2))
            return [y, mean, rstd, dx, dw, db]
        }
    }
}
