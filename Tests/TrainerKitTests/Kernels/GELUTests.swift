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

    func testSameOnEveryInstructionSet() throws {
        var random = TestRandom(seed: 66)
        let count = 1_827
        let x = random.buffer(count, scale: 5), dy = random.buffer(count)
        for approximation in GELU.Approximation.allCases {
            try assertSameOnEveryInstructionSet("GELU \(approximation)") {
                let y = FloatBuffer(count: count), dx = FloatBuffer(count: count)
                GELU.forward(output: y.pointer, input: x.readPointer, count: count, approximation: approximation,
                             parallelism: Parallelism(threads: 2))
                GELU.backward(inputGradient: dx.pointer, outputGradient: dy.readPointer, input: x.readPointer, count: count,
                              approximation: approximation, parallelism: Parallelism(threads: 2))
                return [y, dx]
            }
        }
    }
}
