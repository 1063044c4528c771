import Foundation
import XCTest
import TrainerKit

final class GELUTests: XCTestCase {
    /// Every float from −12 to 12 in steps of about 1e-3, against double-precision libm: a few ulp of
    /// max(1, |value|) for both passes of both formulas, and, for the tanh formula, relative accuracy
    /// on the negative side, where x·σ(2u) has no cancellation. Exact GELU never changes the sign.
    func testDenseRangeMatchesNaive() {
        let n = 24_001
        let x = FloatBuffer(count: n), dy = FloatBuffer(count: n)
        for i in 0 ..< n {
            x[i] = -12 + 24 * Float(i) / Float(n - 1)
            dy[i] = 1
        }
        for approximation in GELU.Approximation.allCases {
            let y = FloatBuffer(count: n), yRef = FloatBuffer(count: n)
            let dx = FloatBuffer(count: n), dxRef = FloatBuffer(count: n)
            GELU.forward(output: y.pointer, input: x.readPointer, count: n, approximation: approximation,
                         parallelism: Parallelism(threads: 2))
            GELU.forwardNaive(output: yRef.pointer, input: x.readPointer, count: n, approximation: approximation)
            GELU.backward(inputGradient: dx.pointer, outputGradient: dy.readPointer, input: x.readPointer, count: n,
                          approximation: approximation, parallelism: Parallelism(threads: 2))
            GELU.backwardNaive(inputGradient: dxRef.pointer, outputGradient: dy.readPointer, input: x.readPointer,
                               count: n, approximation: approximation)
            var worstForward: Float = 0, worstBackward: Float = 0, worstTail: Float = 0
            for i in 0 ..< n {
                worstForward = max(worstForward, abs(y[i] - yRef[i]) / max(1, abs(yRef[i])))
                worstBackward = max(worstBackward, abs(dx[i] - dxRef[i]) / max(1, abs(dxRef[i])))
                if x[i] < -1, x[i] > -5.5, approximation == .tanh {  // where libm's 1 + tanh still has digits
                    worstTail = max(worstTail, abs(y[i] - yRef[i]) / abs(yRef[i]))
                }
            }
            // Exact: up to about 9e-7 near |x| = 5.5, where the rational erf meets ±1.
            XCTAssertLessThan(worstForward, approximation == .exact ? 1e-6 : 4e-7, "GELU \(approximation) forward")
            XCTAssertLessThan(worstBackward, 4e-7, "GELU \(approximation) backward")
            XCTAssertLessThan(worstTail, 2e-6, "GELU \(approximation) forward, relative, −5.5 < x < −1")
            for i in 0 ..< n where x[i] < 0 { XCTAssertLessThanOrEqual(y[i], 0, "GELU \(approximation)(\(x[i])) ≤ 0") }
        }
        // Saturation, zero and NaN.
        let special = FloatBuffer([-1e4, -30, 30, 1e4, 0, .nan]), out = FloatBuffer(count: 6)
        for approximation in GELU.Approximation.allCases {
            GELU.forward(output: out.pointer, input: special.readPointer, count: 6, approximation: approximation)
            XCTAssertLessThan(abs(out[0]), 1e-30, "GELU \(approximation)(−1e4)")
            XCTAssertLessThan(abs(out[1]), 1e-30, "GELU \(approximation)(−30)")
            XCTAssertEqual(Array(out.array()[2 ..< 5]), [30, 1e4, 0], "GELU \(approximation) limits")
            XCTAssertTrue(out[5].isNaN, "GELU \(approximation) of NaN")
        }
    }

    func testBiasFormMatchesNaiveAndUnfusedKernels() {
        var random = TestRandom(seed: 64)
        let N = 7, C = 37  // C not a multiple of any vector width
        let x = random.buffer(N * C, scale: 4), bias = random.buffer(C), dy = random.buffer(N * C)
        for approximation in GELU.Approximation.allCases {
            let y = FloatBuffer(count: N * C), yRef = FloatBuffer(count: N * C)
            GELU.forward(output: y.pointer, input: x.readPointer, bias: bias.readPointer, rows: N, channels: C,
                         approximation: approximation, parallelism: Parallelism(threads: 3))
            GELU.forwardNaive(output: yRef.pointer, input: x.readPointer, bias: bias.readPointer, rows: N, channels: C,
                              approximation: approximation)
            assertClose(y, yRef, tolerance: 1e-6, "GELU \(approximation) + bias forward vs naive")

            // The same bits as adding the bias first and running the plain kernel.
            let sum = FloatBuffer(count: N * C), ySeparate = FloatBuffer(count: N * C)
            for n in 0 ..< N { for i in 0 ..< C { sum[n * C + i] = x[n * C + i] + bias[i] } }
            GELU.forward(output: ySeparate.pointer, input: sum.readPointer, count: N * C, approximation: approximation)
            assertIdentical(y, ySeparate, "GELU \(approximation) + bias forward vs bias then GELU")

            let dx = random.buffer(N * C), db = random.buffer(C)
            let dxRef = FloatBuffer(dx.array()), dbRef = FloatBuffer(db.array())
            let dxStart = dx.array(), dbStart = db.array()
            GELU.backward(inputGradient: dx.pointer, biasGradient: db.pointer, outputGradient: dy.readPointer,
                          input: x.readPointer, bias: bias.readPointer, rows: N, channels: C, approximation: approximation,
                          parallelism: Parallelism(threads: 2))
            GELU.backwardNaive(inputGradient: dxRef.pointer, biasGradient: dbRef.pointer, outputGradient: dy.readPointer,
                               input: x.readPointer, bias: bias.readPointer, rows: N, channels: C,
                               approximation: approximation)
            assertClose(dx, dxRef, tolerance: 1e-6, "GELU \(approximation) + bias dx vs naive")
            assertClose(db, dbRef, tolerance: 1e-5, "GELU \(approximation) + bias dbias vs naive")

            // The same bits as the plain backward kernel followed by column sums in row order (one
            // block of rows: the sum over the rows, then added to the gradient).
            let g = FloatBuffer(count: N * C)
            GELU.backward(inputGradient: g.pointer, outputGradient: dy.readPointer, input: sum.readPointer, count: N * C,
                          approximation: approximation)
            let dxSeparate = FloatBuffer(dxStart), columnSums = FloatBuffer(count: C), dbSeparate = FloatBuffer(dbStart)
            for n in 0 ..< N {
                for i in 0 ..< C {
                    dxSeparate[n * C + i] += g[n * C + i]
                    columnSums[i] += g[n * C + i]
                }
            }
            for i in 0 ..< C { dbSeparate[i] += columnSums[i] }
            assertIdentical(dx, dxSeparate, "GELU \(approximation) + bias dx vs unfused")
            assertIdentical(db, dbSeparate, "GELU \(approximation) + bias dbias vs unfused")
        }
    }

    /// The bias gradient is summed in fixed blocks of rows: the same bits for any number of threads.
    func testBiasGradientDoesNotDependOnTheThreadCount() {
        var random = TestRandom(seed: 69)
        let N = 150, C = 21  // three blocks of rows, the last one partial
        let x = random.buffer(N * C, scale: 3), bias = random.buffer(C), dy = random.buffer(N * C), dbStart = random.buffer(C)
        for approximation in GELU.Approximation.allCases {
            func run(_ threads: Int) -> [FloatBuffer] {
                let dx = FloatBuffer(count: N * C), db = FloatBuffer(dbStart.array())
                GELU.backward(inputGradient: dx.pointer, biasGradient: db.pointer, outputGradient: dy.readPointer,
                              input: x.readPointer, bias: bias.readPointer, rows: N, channels: C, approximation: approximation,
                              parallelism: Parallelism(threads: threads))
                return [dx, db]
            }
            let reference = run(1)
            let dbRef = FloatBuffer(dbStart.array()), dxRef = FloatBuffer(count: N * C)
            GELU.backwardNaive(inputGradient: dxRef.pointer, biasGradient: dbRef.pointer, outputGradient: dy.readPointer,
                               input: x.readPointer, bias: bias.readPointer, rows: N, channels: C, approximation: approximation)
            assertClose(reference[1], dbRef, tolerance: 1e-5, "GELU \(approximation) + bias dbias over blocks vs naive")
            for threads in [2, 3, 4] {
                for (a, b) in zip(run(threads), reference) {
                    assertIdentical(a, b, "GELU \(approximation) + bias, \(threads) threads vs 1")
                }
            }
        }
    }

    func testBiasFormFiniteDifferences() {
        var random = TestRandom(seed: 65)
        let N = 4, C = 19
        let x = random.buffer(N * C, scale: 3), bias = random.buffer(C), weights = random.buffer(N * C)
        let y = FloatBuffer(count: N * C)
        for approximation in GELU.Approximation.allCases {
            func loss() -> Double {
                GELU.forward(output: y.pointer, input: x.readPointer, bias: bias.readPointer, rows: N, channels: C,
                             approximation: approximation)
                return weightedSum(y, weights)
            }
            let dx = FloatBuffer(count: N * C), db = FloatBuffer(count: C)
            GELU.backward(inputGradient: dx.pointer, biasGradient: db.pointer, outputGradient: weights.readPointer,
                          input: x.readPointer, bias: bias.readPointer, rows: N, channels: C, approximation: approximation,
                          parallelism: Parallelism(threads: 2))
            checkGradient("GELU \(approximation) + bias dx", tensor: x, analytic: dx, samples: N * C, step: 1e-3, loss: loss)
            checkGradient("GELU \(approximation) + bias dbias", tensor: bias, analytic: db, samples: C, step: 1e-3, loss: loss)
        }
    }

    func testSameOnEveryInstructionSet() throws {
        var random = TestRandom(seed: 66)
        let N = 9, C = 203, count = N * C
        let x = random.buffer(count, scale: 5), bias = random.buffer(C), dy = random.buffer(count)
        for approximation in GELU.Approximation.allCases {
            try assertSameOnEveryInstructionSet("GELU \(approximation)") {
                let y = FloatBuffer(count: count), dx = FloatBuffer(count: count)
                let yBias = FloatBuffer(count: count), dxBias = FloatBuffer(count: count), db = FloatBuffer(count: C)
                GELU.forward(output: y.pointer, input: x.readPointer, count: count, approximation: approximation,
                             parallelism: Parallelism(threads: 2))
                GELU.backward(inputGradient: dx.pointer, outputGradient: dy.readPointer, input: x.readPointer, count: count,
                              approximation: approximation, parallelism: Parallelism(threads: 2))
                GELU.forward(output: yBias.pointer, input: x.readPointer, bias: bias.readPointer, rows: N, channels: C,
                             approximation: approximation)
                GELU.backward(inputGradient: dxBias.pointer, biasGradient: db.pointer, outputGradient: dy.readPointer,
                              input: x.readPointer, bias: bias.readPointer, rows: N, channels: C, approximation: approximation)
                return [y, dx, yBias, dxBias, db]
            }
        }
    }
}
