import XCTest
import TrainerKit

final class SoftmaxTests: XCTestCase {
    func testMatchesNaiveAndFiniteDifferences() {
        var random = TestRandom(seed: 60)
        let N = 5, D = 11
        let x = random.buffer(N * D, scale: 4), weights = random.buffer(N * D)
        x[3] = 80  // large logits must not overflow
        let y = FloatBuffer(count: N * D), yRef = FloatBuffer(count: N * D)
        Softmax.forward(output: y.pointer, input: x.readPointer, rows: N, columns: D, parallelism: Parallelism(threads: 2))
        Softmax.forwardNaive(output: yRef.pointer, input: x.readPointer, rows: N, columns: D)
        assertClose(y, yRef, tolerance: 2e-6, "softmax forward")
        let dx = FloatBuffer(count: N * D), dxRef = FloatBuffer(count: N * D)
        Softmax.backward(inputGradient: dx.pointer, outputGradient: weights.readPointer, output: y.readPointer,
                         rows: N, columns: D, parallelism: Parallelism(threads: 2))
        Softmax.backwardNaive(inputGradient: dxRef.pointer, outputGradient: weights.readPointer, output: y.readPointer,
                              rows: N, columns: D)
        assertClose(dx, dxRef, tolerance: 1e-5, "softmax backward")
        x[3] = 0.5
        func loss() -> Double {
            Softmax.forward(output: y.pointer, input: x.readPointer, rows: N, columns: D)
            return weightedSum(y, weights)
        }
        _ = loss()
        dx.zero()
        Softmax.backward(inputGradient: dx.pointer, outputGradient: weights.readPointer, output: y.readPointer,
                         rows: N, columns: D)
        checkGradient("softmax dx", tensor: x, analytic: dx, samples: 30, step: 1e-3, loss: loss)
    }

    /// Row lengths around the vector and partial-sum sizes, in place, with a −∞ (masked) entry.
    func testRowLengthsInPlaceAndMaskedEntries() {
        var random = TestRandom(seed: 67)
        let N = 3
        for D in [1, 2, 15, 16, 17, 31, 32, 33, 64, 100, 256, 257] {
            let x = random.buffer(N * D, scale: 6), dy = random.buffer(N * D)
            if D > 2 { x[D + 1] = -.infinity }
            let y = FloatBuffer(x.array()), yRef = FloatBuffer(count: N * D)
            Softmax.forward(output: y.pointer, input: y.readPointer, rows: N, columns: D, parallelism: Parallelism(threads: 2))
            Softmax.forwardNaive(output: yRef.pointer, input: x.readPointer, rows: N, columns: D)
            assertClose(y, yRef, tolerance: 1e-6, "softmax D=\(D)")
            if D > 2 { XCTAssertEqual(y[D + 1], 0, "softmax of −∞") }
            let dx = random.buffer(N * D), dxRef = FloatBuffer(dx.array())
            Softmax.backward(inputGradient: dx.pointer, outputGradient: dy.readPointer, output: y.readPointer, rows: N,
                             columns: D, parallelism: Parallelism(threads: 2))
            Softmax.backwardNaive(inputGradient: dxRef.pointer, outputGradient: dy.readPointer, output: y.readPointer,
                                  rows: N, columns: D)
            assertClose(dx, dxRef, tolerance: 1e-5, "softmax backward D=\(D)")
        }
    }

    func testSameOnEveryInstructionSet() throws {
        var random = TestRandom(seed: 68)
        let N = 40, D = 83
        let x = random.buffer(N * D, scale: 8), dy = random.buffer(N * D)
        try assertSameOnEveryInstructionSet("softmax") {
            let y = FloatBuffer(count: N * D), dx = FloatBuffer(count: N * D)
            Softmax.forward(output: y.pointer, input: x.readPointer, rows: N, columns: D, parallelism: Parallelism(threads: 2))
            Softmax.backward(inputGradient: dx.pointer, outputGradient: dy.readPointer, output: y.readPointer, rows: N,
                             columns: D, parallelism: Parallelism(threads: 2))
            return [y, dx]
        }
    }
}

final class ActivationTests: XCTestCase {
    func testGELUMatchesNaiveAndFiniteDifferences() {
        for approximation in GELU.Approximation.allCases {
            var random = TestRandom(seed: 61)
            let n = 257
            let x = random.buffer(n, scale: 6), weights = random.buffer(n)
            let y = FloatBuffer(count: n), yRef = FloatBuffer(count: n)
            GELU.forward(output: y.pointer, input: x.readPointer, count: n, approximation: approximation,
                         parallelism: Parallelism(threads: 2))
            GELU.forwardNaive(output: yRef.pointer, input: x.readPointer, count: n, approximation: approximation)
            assertClose(y, yRef, tolerance: 1e-6, "GELU \(approximation) forward")
            let dx = FloatBuffer(count: n), dxRef = FloatBuffer(count: n)
            GELU.backward(inputGradient: dx.pointer, outputGradient: weights.readPointer, input: x.readPointer, count: n,
                          approximation: approximation, parallelism: Parallelism(threads: 2))
            GELU.backwardNaive(inputGradient: dxRef.pointer, outputGradient: weights.readPointer, input: x.readPointer,
                               count: n, approximation: approximation)
            assertClose(dx, dxRef, tolerance: 1e-6, "GELU \(approximation) backward")
            func loss() -> Double {
                GELU.forward(output: y.pointer, input: x.readPointer, count: n, approximation: approximation)
                return weightedSum(y, weights)
            }
            checkGradient("GELU \(approximation) dx", tensor: x, analytic: dx, samples: 60, step: 1e-3, loss: loss)
        }
        // The two formulas really differ (so a test of the wrong one would fail).
        let x = FloatBuffer([1.5]), a = FloatBuffer(count: 1), b = FloatBuffer(count: 1)
        GELU.forward(output: a.pointer, input: x.readPointer, count: 1, approximation: .tanh)
        GELU.forward(output: b.pointer, input: x.readPointer, count: 1, approximation: .exact)
        XCTAssertGreaterThan(abs(a[0] - b[0]), 1e-4)
        XCTAssertEqual(Double(b[0]), 1.5 * 0.9331927987311419, accuracy: 1e-6)  // 1.5·Φ(1.5)
    }

    func testReLUForwardBackwardAndFiniteDifferences() {
        var random = TestRandom(seed: 62)
        let n = 64
        let x = random.buffer(n), weights = random.buffer(n), y = FloatBuffer(count: n)
        ReLU.forward(output: y.pointer, input: x.readPointer, count: n, parallelism: Parallelism(threads: 2))
        for i in 0 ..< n { XCTAssertEqual(y[i], max(0, x[i])) }
        let dx = FloatBuffer(count: n)
        ReLU.backward(inputGradient: dx.pointer, outputGradient: weights.readPointer, input: x.readPointer, count: n)
        for i in 0 ..< n { XCTAssertEqual(dx[i], x[i] > 0 ? weights[i] : 0) }
        // Keep samples away from the kink at 0.
        for i in 0 ..< n where abs(x[i]) < 0.05 { x[i] = 0.5 }
        dx.zero()
        ReLU.backward(inputGradient: dx.pointer, outputGradient: weights.readPointer, input: x.readPointer, count: n)
        func loss() -> Double {
            ReLU.forward(output: y.pointer, input: x.readPointer, count: n)
            return weightedSum(y, weights)
        }
        checkGradient("ReLU dx", tensor: x, analytic: dx, samples: n, step: 1e-3, loss: loss)
    }

    func testResidualForwardBackwardAndFiniteDifferences() {
        var random = TestRandom(seed: 63)
        let n = 33
        let a = random.buffer(n), b = random.buffer(n), weights = random.buffer(n), y = FloatBuffer(count: n)
        func loss() -> Double {
            Residual.forward(output: y.pointer, a.readPointer, b.readPointer, count: n, parallelism: Parallelism(threads: 2))
            return weightedSum(y, weights)
        }
        _ = loss()
        for i in 0 ..< n { XCTAssertEqual(y[i], a[i] + b[i]) }
        let da = random.buffer(n), db = FloatBuffer(count: n)
        let daStart = da.array()
        Residual.backward(aGradient: da.pointer, bGradient: db.pointer, outputGradient: weights.readPointer, count: n)
        for i in 0 ..< n { XCTAssertEqual(da[i], daStart[i] + weights[i]) }  // accumulates
        for i in 0 ..< n { da[i] -= daStart[i] }
        checkGradient("residual da", tensor: a, analytic: da, samples: n, loss: loss)
        checkGradient("residual db", tensor: b, analytic: db, samples: n, loss: loss)
    }
}
