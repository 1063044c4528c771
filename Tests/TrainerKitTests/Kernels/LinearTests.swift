import XCTest
import TrainerKit

final class LinearTests: XCTestCase {
    let N = 7, C = 5, OC = 6

    func testForwardMatchesNaive() {
        var random = TestRandom(seed: 1)
        let x = random.buffer(N * C), w = random.buffer(OC * C), b = random.buffer(OC)
        for threads in [1, 3] {
            for useBias in [true, false] {
                let fast = FloatBuffer(count: N * OC), naive = FloatBuffer(count: N * OC)
                Linear.forward(output: fast.pointer, input: x.readPointer, weight: w.readPointer,
                               bias: useBias ? b.readPointer : nil, rows: N, inputChannels: C, outputChannels: OC,
                               parallelism: Parallelism(threads: threads))
                Linear.forwardNaive(output: naive.pointer, input: x.readPointer, weight: w.readPointer,
                                    bias: useBias ? b.readPointer : nil, rows: N, inputChannels: C, outputChannels: OC)
                assertClose(fast, naive, tolerance: 1e-5, "linear forward threads=\(threads) bias=\(useBias)")
            }
        }
    }

    func testBackwardMatchesNaiveAndAccumulates() {
        var random = TestRandom(seed: 2)
        let x = random.buffer(N * C), w = random.buffer(OC * C), dy = random.buffer(N * OC)
        for threads in [1, 4] {
            // Start from non-zero gradients: backward must add, not overwrite.
            let dx = random.buffer(N * C), dw = random.buffer(OC * C), db = random.buffer(OC)
            let dxNaive = FloatBuffer(dx.array()), dwNaive = FloatBuffer(dw.array()), dbNaive = FloatBuffer(db.array())
            Linear.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                            outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer,
                            rows: N, inputChannels: C, outputChannels: OC, parallelism: Parallelism(threads: threads))
            Linear.backwardNaive(inputGradient: dxNaive.pointer, weightGradient: dwNaive.pointer, biasGradient: dbNaive.pointer,
                                 outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer,
                                 rows: N, inputChannels: C, outputChannels: OC)
            assertClose(dx, dxNaive, tolerance: 1e-5, "dx threads=\(threads)")
            assertClose(dw, dwNaive, tolerance: 1e-5, "dW threads=\(threads)")
            assertClose(db, dbNaive, tolerance: 1e-5, "db threads=\(threads)")
        }
    }

    func testFiniteDifferences() {
        var random = TestRandom(seed: 3)
        let x = random.buffer(N * C), w = random.buffer(OC * C), b = random.buffer(OC), weights = random.buffer(N * OC)
        let y = FloatBuffer(count: N * OC)
        func loss() -> Double {
            Linear.forward(output: y.pointer, input: x.readPointer, weight: w.readPointer, bias: b.readPointer,
                           rows: N, inputChannels: C, outputChannels: OC)
            return weightedSum(y, weights)
        }
        let dx = FloatBuffer(count: N * C), dw = FloatBuffer(count: OC * C), db = FloatBuffer(count: OC)
        Linear.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                        outputGradient: weights.readPointer, input: x.readPointer, weight: w.readPointer,
                        rows: N, inputChannels: C, outputChannels: OC)
        checkGradient("linear dx", tensor: x, analytic: dx, loss: loss)
        checkGradient("linear dW", tensor: w, analytic: dw, loss: loss)
        checkGradient("linear db", tensor: b, analytic: db, loss: loss)
    }

    func testRepeatedRunsAreBitIdentical() {
        var random = TestRandom(seed: 4)
        let rows = 300, inC = 96, outC = 160
        let x = random.buffer(rows * inC), w = random.buffer(outC * inC), b = random.buffer(outC), dy = random.buffer(rows * outC)
        func run() -> [FloatBuffer] {
            let y = FloatBuffer(count: rows * outC), dx = FloatBuffer(count: rows * inC)
            let dw = FloatBuffer(count: outC * inC), db = FloatBuffer(count: outC)
            Linear.forward(output: y.pointer, input: x.readPointer, weight: w.readPointer, bias: b.readPointer,
                           rows: rows, inputChannels: inC, outputChannels: outC, parallelism: Parallelism(threads: 2))
            Linear.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                            outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer,
                            rows: rows, inputChannels: inC, outputChannels: outC, parallelism: Parallelism(threads: 2))
            return [y, dx, dw, db]
        }
        let first = run(), second = run()
        for (a, b) in zip(first, second) { assertIdentical(a, b, "linear repeat") }
    }
}
