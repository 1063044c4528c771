import Foundation
import XCTest
import TrainerKit

final class EmbeddingTests: XCTestCase {
    let V = 9, C = 20, N = 12

    func testTokenEmbeddingMatchesNaive() {
        var random = TestRandom(seed: 20)
        let table = random.buffer(V * C), dy = random.buffer(N * C)
        var tokens = random.tokens(N, below: V)
        tokens[3] = tokens[7]  // repeated tokens must add up
        for scale: Float in [1, 4.5] {
            let y = FloatBuffer(count: N * C), yRef = FloatBuffer(count: N * C)
            let dt = FloatBuffer(count: V * C), dtRef = FloatBuffer(count: V * C)
            tokens.withUnsafeBufferPointer { ids in
                Embedding.forward(output: y.pointer, tokens: ids.baseAddress!, table: table.readPointer, rows: N,
                                  channels: C, scale: scale, parallelism: Parallelism(threads: 2))
                Embedding.forwardNaive(output: yRef.pointer, tokens: ids.baseAddress!, table: table.readPointer,
                                       rows: N, channels: C, scale: scale)
                Embedding.backward(tableGradient: dt.pointer, outputGradient: dy.readPointer, tokens: ids.baseAddress!,
                                   rows: N, channels: C, scale: scale, parallelism: Parallelism(threads: 3))
                Embedding.backwardNaive(tableGradient: dtRef.pointer, outputGradient: dy.readPointer,
                                        tokens: ids.baseAddress!, rows: N, channels: C, scale: scale)
            }
            assertIdentical(y, yRef, "embedding forward scale \(scale)")
            assertClose(dt, dtRef, tolerance: 1e-6, "embedding backward scale \(scale)")
        }
    }

    func testTokenEmbeddingFiniteDifferences() {
        var random = TestRandom(seed: 21)
        let table = random.buffer(V * C), weights = random.buffer(N * C)
        var tokens = random.tokens(N, below: V)
        tokens[0] = tokens[1]
        let y = FloatBuffer(count: N * C), dt = FloatBuffer(count: V * C)
        tokens.withUnsafeBufferPointer { ids in
            func loss() -> Double {
                Embedding.forward(output: y.pointer, tokens: ids.baseAddress!, table: table.readPointer, rows: N,
                                  channels: C, scale: 2)
                return weightedSum(y, weights)
            }
            Embedding.backward(tableGradient: dt.pointer, outputGradient: weights.readPointer, tokens: ids.baseAddress!,
                               rows: N, channels: C, scale: 2)
            // Check every entry of the row of the repeated token, plus a spread of the rest.
            checkGradient("embedding dtable", tensor: table, analytic: dt, samples: 40, loss: loss)
        }
    }

    func testPositionEmbeddingMatchesNaiveAndFiniteDifferences() {
        var random = TestRandom(seed: 22)
        let B = 3, T = 4, maxT = 6
        let x = random.buffer(B * T * C), table = random.buffer(maxT * C), dy = random.buffer(B * T * C)
        let y = FloatBuffer(count: B * T * C), yRef = FloatBuffer(count: B * T * C)
        PositionEmbedding.forward(output: y.pointer, input: x.readPointer, table: table.readPointer, batch: B, time: T,
                                  channels: C, parallelism: Parallelism(threads: 2))
        PositionEmbedding.forwardNaive(output: yRef.pointer, input: x.readPointer, table: table.readPointer, batch: B,
                                       time: T, channels: C)
        assertIdentical(y, yRef, "position forward")
        let dx = FloatBuffer(count: B * T * C), dt = FloatBuffer(count: maxT * C)
        let dxRef = FloatBuffer(count: B * T * C), dtRef = FloatBuffer(count: maxT * C)
        PositionEmbedding.backward(inputGradient: dx.pointer, tableGradient: dt.pointer, outputGradient: dy.readPointer,
                                   batch: B, time: T, channels: C, parallelism: Parallelism(threads: 3))
        PositionEmbedding.backwardNaive(inputGradient: dxRef.pointer, tableGradient: dtRef.pointer,
                                        outputGradient: dy.readPointer, batch: B, time: T, channels: C)
        assertClose(dx, dxRef, tolerance: 1e-6, "position dx")
        assertClose(dt, dtRef, tolerance: 1e-6, "position dtable")
        // Rows T..<maxT of the table are unused: zero gradient.
        for i in T * C ..< maxT * C { XCTAssertEqual(dt[i], 0) }

        func loss() -> Double {
            PositionEmbedding.forward(output: y.pointer, input: x.readPointer, table: table.readPointer, batch: B,
                                      time: T, channels: C)
            return weightedSum(y, dy)
        }
        checkGradient("position dx", tensor: x, analytic: dx, loss: loss)
        checkGradient("position dtable", tensor: table, analytic: dt, samples: 30, allowZero: true, loss: loss)
    }

    func testSinusoidalTable() {
        let T = 50, C = 16
        let table = SinusoidalPositions.table(time: T, channels: C)
        // Position 0: sin(0) = 0 on even channels, cos(0) = 1 on odd ones.
        for i in 0 ..< C { XCTAssertEqual(table[i], i % 2 == 0 ? 0 : 1) }
        // PE[t, 2i] = sin(t / 10000^(2i/C)), PE[t, 2i+1] = cos(...)
        for (t, i) in [(1, 0), (7, 2), (49, 6)] {
            let angle = Double(t) / pow(10_000, Double(2 * i) / Double(C))
            XCTAssertEqual(Double(table[t * C + 2 * i]), sin(angle), accuracy: 1e-6)
            XCTAssertEqual(Double(table[t * C + 2 * i + 1]), cos(angle), accuracy: 1e-6)
        }
    }

    func testSinusoidalForwardAndGradientPassThrough() {
        var random = TestRandom(seed: 23)
        let B = 2, T = 5
        let table = FloatBuffer(SinusoidalPositions.table(time: T, channels: C))
        let x = random.buffer(B * T * C), weights = random.buffer(B * T * C), y = FloatBuffer(count: B * T * C)
        func loss() -> Double {
            SinusoidalPositions.forward(output: y.pointer, input: x.readPointer, table: table.readPointer, batch: B,
                                        time: T, channels: C)
            return weightedSum(y, weights)
        }
        _ = loss()
        XCTAssertEqual(y[C + 1], x[C + 1] + table[C + 1])
        let dx = FloatBuffer(count: B * T * C)
        SinusoidalPositions.backward(inputGradient: dx.pointer, outputGradient: weights.readPointer, count: B * T * C)
        checkGradient("sinusoidal dx", tensor: x, analytic: dx, loss: loss)
    }
}
