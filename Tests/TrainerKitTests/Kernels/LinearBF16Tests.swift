import XCTest
import TrainerKit

/// `LinearBF16` (oneDNN) against an exact reference on the same bf16 operands, and against fp32
/// `Linear` with bf16-sized tolerances. Skipped, with the reason printed, on CPUs without native
/// bf16 products.
final class LinearBF16Tests: XCTestCase {
    let N = 37, C = 24, OC = 20

    override func setUpWithError() throws {
        try XCTSkipUnless(BF16.isNative, "this CPU lacks avx512_bf16: the bf16 kernels are not run (precision: bf16 is refused here)")
    }

    func bf16(_ buffer: FloatBuffer) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: buffer.count)
        out.withUnsafeMutableBufferPointer { BF16.convert(buffer.readPointer, to: $0.baseAddress!, count: buffer.count, parallelism: .serial) }
        return out
    }

    /// The same numbers as the kernel sees them: every operand rounded to bf16 (so that the
    /// products are exact and only the fp32 sums round). Keep the result in a variable: a pointer
    /// into a temporary buffer dangles.
    func widened(_ values: [UInt16]) -> FloatBuffer { FloatBuffer(values.map(BF16.float)) }

    func testConversionRoundsToNearestEven() {
        XCTAssertEqual(BF16.rounded(1), 1)
        XCTAssertEqual(BF16.rounded(1 + 1.0 / 256), 1, "a tie rounds to the even significand")
        XCTAssertEqual(BF16.rounded(1 + 3.0 / 256), 1 + 4.0 / 256, "a tie rounds to the even significand")
        XCTAssertEqual(BF16.rounded(1 + 1.0 / 256 + 1.0 / 4096), 1 + 2.0 / 256)
        XCTAssertEqual(BF16.rounded(-3.140625), -3.140625, "exactly representable")
        XCTAssertTrue(BF16.rounded(.nan).isNaN)
        XCTAssertEqual(BF16.rounded(.infinity), .infinity)
        var random = TestRandom(seed: 3)
        let values = random.buffer(1000, scale: 100)
        let converted = bf16(values)
        for i in 0 ..< values.count {
            XCTAssertEqual(BF16.float(converted[i]), BF16.rounded(values[i]))
            XCTAssertLessThanOrEqual(abs(BF16.float(converted[i]) - values[i]), abs(values[i]) / 256 + 1e-30)
        }
    }

    func testForwardIsExactProductsOfBF16Operands() {
        var random = TestRandom(seed: 1)
        let x = random.buffer(N * C), w = random.buffer(OC * C), b = random.buffer(OC)
        let xh = bf16(x), wh = bf16(w), xw = widened(xh), ww = widened(wh)
        let naive = FloatBuffer(count: N * OC), fp32 = FloatBuffer(count: N * OC)
        Linear.forwardNaive(output: naive.pointer, input: xw.readPointer, weight: ww.readPointer,
                            bias: b.readPointer, rows: N, inputChannels: C, outputChannels: OC)
        Linear.forward(output: fp32.pointer, input: x.readPointer, weight: w.readPointer, bias: b.readPointer, rows: N,
                       inputChannels: C, outputChannels: OC)
        for threads in [1, 3] {
            for useBias in [true, false] {
                let out = FloatBuffer(count: N * OC)
                xh.withUnsafeBufferPointer { xp in
                    wh.withUnsafeBufferPointer { wp in
                        LinearBF16.forward(output: out.pointer, input: xp.baseAddress!, weight: wp.baseAddress!,
                                           bias: useBias ? b.readPointer : nil, rows: N, inputChannels: C, outputChannels: OC,
                                           parallelism: Parallelism(threads: threads))
                    }
                }
                if !useBias { for r in 0 ..< N { for o in 0 ..< OC { out[r * OC + o] += b[o] } } }
                assertClose(out, naive, tolerance: 2e-6, "bf16 forward = exact products of bf16 operands, threads \(threads)")
                assertClose(out, fp32, tolerance: 2e-2, "bf16 forward ≈ fp32 forward, threads \(threads)")
            }
        }
    }

    func testBackwardAccumulatesExactProductsOfBF16Operands() {
        var random = TestRandom(seed: 2)
        let x = random.buffer(N * C), w = random.buffer(OC * C), dy = random.buffer(N * OC)
        let xh = bf16(x), wh = bf16(w), dyh = bf16(dy), xw = widened(xh), ww = widened(wh), dyw = widened(dyh)
        for threads in [1, 4] {
            let dx = random.buffer(N * C), dw = random.buffer(OC * C), db = random.buffer(OC)
            let dxNaive = FloatBuffer(dx.array()), dwNaive = FloatBuffer(dw.array()), dbNaive = FloatBuffer(db.array())
            let dxFP32 = FloatBuffer(dx.array()), dwFP32 = FloatBuffer(dw.array())
            xh.withUnsafeBufferPointer { xp in
                wh.withUnsafeBufferPointer { wp in
                    dyh.withUnsafeBufferPointer { dyp in
                        LinearBF16.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                                            outputGradient: dy.readPointer, outputGradientBF16: dyp.baseAddress!,
                                            input: xp.baseAddress!, weight: wp.baseAddress!, rows: N, inputChannels: C,
                                            outputChannels: OC, parallelism: Parallelism(threads: threads))
                    }
                }
            }
            // Reference: the bf16 operands' exact products for dx and dW; the bias gradient from fp32 dY.
            let scratch = FloatBuffer(count: OC)
            Linear.backwardNaive(inputGradient: dxNaive.pointer, weightGradient: dwNaive.pointer, biasGradient: scratch.pointer,
                                 outputGradient: dyw.readPointer, input: xw.readPointer, weight: ww.readPointer, rows: N,
                                 inputChannels: C, outputChannels: OC)
            Linear.backwardNaive(inputGradient: nil, weightGradient: nil, biasGradient: dbNaive.pointer,
                                 outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer, rows: N,
                                 inputChannels: C, outputChannels: OC)
            Linear.backward(inputGradient: dxFP32.pointer, weightGradient: dwFP32.pointer, biasGradient: nil,
                            outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer, rows: N,
                            inputChannels: C, outputChannels: OC)
            assertClose(dx, dxNaive, tolerance: 2e-6, "dx threads \(threads)")
            assertClose(dw, dwNaive, tolerance: 2e-6, "dW threads \(threads)")
            assertClose(db, dbNaive, tolerance: 1e-5, "db threads \(threads)")
            assertClose(dx, dxFP32, tolerance: 3e-2, "dx ≈ fp32, threads \(threads)")
            assertClose(dw, dwFP32, tolerance: 3e-2, "dW ≈ fp32, threads \(threads)")
        }
    }

    /// A whole GPT in bf16: the same loss as fp32 to bf16 precision, gradients within a few percent
    /// of fp32's (relative to their norm), and bit-identical when repeated.
    func testGPTInBF16TracksFP32() {
        let config = modelConfig(positions: 7, channels: 16, heads: 2, layers: 2, feedForward: 32, tieEmbeddings: false)
        let model = GPTModel(config: config, vocabulary: 11, limits: ActivationLimits(batch: 3, time: 7))
        model.initialize(seed: 3)
        var random = TestRandom(seed: 4)
        for i in 0 ..< model.parameters.count { model.parameters.values[i] += random.uniform(0.1) }
        let tokens = random.tokens(21, below: 11), targets = random.tokens(21, below: 11)
        func run(_ precision: Precision) -> (loss: Double, gradients: [Float]) {
            model.precision = precision
            model.parameters.gradients.zero()
            let total = model.forward(tokens: tokens, targets: targets, batch: 3, time: 7, parallelism: Parallelism(threads: 2))!
            model.backward(lossScale: 1 / Float(total.count))
            return (total.mean, model.parameters.gradients.array())
        }
        let fp32 = run(.fp32), bf16 = run(.bf16), again = run(.bf16)
        XCTAssertEqual(bf16.loss, fp32.loss, accuracy: 1e-2 * fp32.loss)
        XCTAssertNotEqual(bf16.gradients, fp32.gradients, "bf16 really ran")
        XCTAssertEqual(bf16.gradients, again.gradients, "bf16 passes are bit-identical when repeated")
        let difference = zip(bf16.gradients, fp32.gradients).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +).squareRoot()
        let norm = fp32.gradients.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
        XCTAssertLessThan(difference, 3e-2 * norm, "‖g_bf16 − g_fp32‖ / ‖g_fp32‖ = \(difference / norm)")
    }
}
