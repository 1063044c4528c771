import XCTest
import TrainerKit

/// `FlashAttention` (tiled, online softmax, no T×T matrix) against the double-precision naive
/// attention, on the model's layouts: fused q|k|v self-attention (causal or not) and cross-attention
/// over a fused k|v memory, with padding masks and dropout on the probabilities; small tiles so
/// that every path (several key blocks, partial blocks, fully masked blocks) runs.
final class FlashAttentionTests: XCTestCase {
    override func setUp() {
        (FlashAttention.queryBlock, FlashAttention.block) = (4, 8)  // uneven tiles: every path runs
    }
    override func tearDown() { (FlashAttention.queryBlock, FlashAttention.block) = (64, 128) }

    struct Case {
        let shape: Attention.Shape
        let query: FloatBuffer, keyValue: FloatBuffer
        let queryStride: Int, keyStride: Int, keyOffset: Int, valueOffset: Int
        var keyMask: [UInt8]? = nil, queryMask: [UInt8]? = nil
        var dropout: Attention.ProbabilityDropout? = nil

        static func selfAttention(B: Int, T: Int, heads: Int, headSize: Int, causal: Bool, seed: UInt64) -> Case {
            var random = TestRandom(seed: seed)
            let C = heads * headSize, qkv = random.buffer(B * T * 3 * C, scale: 1.5)
            return Case(shape: Attention.Shape(batch: B, queryLength: T, keyLength: T, heads: heads, headSize: headSize,
                                               causal: causal),
                        query: qkv, keyValue: qkv, queryStride: 3 * C, keyStride: 3 * C, keyOffset: C, valueOffset: 2 * C)
        }

        static func cross(B: Int, Tq: Int, Tk: Int, heads: Int, headSize: Int, seed: UInt64) -> Case {
            var random = TestRandom(seed: seed)
            let C = heads * headSize
            return Case(shape: Attention.Shape(batch: B, queryLength: Tq, keyLength: Tk, heads: heads, headSize: headSize,
                                               causal: false),
                        query: random.buffer(B * Tq * C, scale: 1.5), keyValue: random.buffer(B * Tk * 2 * C, scale: 1.5),
                        queryStride: C, keyStride: 2 * C, keyOffset: 0, valueOffset: C)
        }

        var outputCount: Int { shape.batch * shape.queryLength * shape.channels }

        func masks<R>(_ body: (UnsafePointer<UInt8>?, UnsafePointer<UInt8>?) -> R) -> R {
            (keyMask ?? []).withUnsafeBufferPointer { k in
                (queryMask ?? []).withUnsafeBufferPointer { q in
                    body(keyMask == nil ? nil : k.baseAddress, queryMask == nil ? nil : q.baseAddress)
                }
            }
        }

        func flashForward(_ output: FloatBuffer, _ lse: FloatBuffer, precision: Precision = .fp32, threads: Int = 1) {
            masks { keyMask, queryMask in
                FlashAttention.forward(output: output.pointer, logSumExp: lse.pointer,
                                       query: query.readPointer, queryStride: queryStride,
                                       key: keyValue.readPointer + keyOffset, keyStride: keyStride,
                                       value: keyValue.readPointer + valueOffset, valueStride: keyStride,
                                       keyMask: keyMask, queryMask: queryMask, dropout: dropout, shape: shape,
                                       precision: precision, parallelism: Parallelism(threads: threads))
            }
        }

        func flashBackward(_ dQuery: FloatBuffer, _ dKeyValue: FloatBuffer, _ dOutput: FloatBuffer, _ output: FloatBuffer,
                           _ lse: FloatBuffer, precision: Precision = .fp32, threads: Int = 1) {
            masks { keyMask, queryMask in
                FlashAttention.backward(queryGradient: dQuery.pointer, queryGradientStride: queryStride,
                                        keyGradient: dKeyValue.pointer + keyOffset, keyGradientStride: keyStride,
                                        valueGradient: dKeyValue.pointer + valueOffset, valueGradientStride: keyStride,
                                        outputGradient: dOutput.readPointer, output: output.readPointer,
                                        logSumExp: lse.readPointer, query: query.readPointer, queryStride: queryStride,
                                        key: keyValue.readPointer + keyOffset, keyStride: keyStride,
                                        value: keyValue.readPointer + valueOffset, valueStride: keyStride,
                                        keyMask: keyMask, queryMask: queryMask, dropout: dropout, shape: shape,
                                        precision: precision, parallelism: Parallelism(threads: threads))
            }
        }

        /// The naive reference: output, and the gradients from dO.
        func naive(dOutput: FloatBuffer) -> (output: FloatBuffer, dQuery: FloatBuffer, dKeyValue: FloatBuffer) {
            let output = FloatBuffer(count: outputCount)
            let probabilities = FloatBuffer(count: shape.batch * shape.heads * shape.queryLength * shape.keyLength)
            let dQuery = FloatBuffer(count: query.count), dKeyValue = FloatBuffer(count: keyValue.count)
            masks { keyMask, queryMask in
                Attention.forwardNaive(output: output.pointer, probabilities: probabilities.pointer,
                                       query: query.readPointer, queryStride: queryStride,
                                       key: keyValue.readPointer + keyOffset, keyStride: keyStride,
                                       value: keyValue.readPointer + valueOffset, valueStride: keyStride,
                                       keyMask: keyMask, queryMask: queryMask, dropout: dropout, shape: shape)
            }
            Attention.backwardNaive(queryGradient: dQuery.pointer, queryGradientStride: queryStride,
                                    keyGradient: dKeyValue.pointer + keyOffset, keyGradientStride: keyStride,
                                    valueGradient: dKeyValue.pointer + valueOffset, valueGradientStride: keyStride,
                                    outputGradient: dOutput.readPointer, probabilities: probabilities.readPointer,
                                    query: query.readPointer, queryStride: queryStride,
                                    key: keyValue.readPointer + keyOffset, keyStride: keyStride,
                                    value: keyValue.readPointer + valueOffset, valueStride: keyStride, dropout: dropout,
                                    shape: shape)
            return (output, dQuery, dKeyValue)
        }
    }

    /// Every layout and option: causal and not, cross, partial tiles, padding, dropout.
    func cases() -> [(String, Case)] {
        var padded = Case.selfAttention(B: 2, T: 21, heads: 2, headSize: 4, causal: false, seed: 3)
        padded.keyMask = (0 ..< 42).map { $0 % 21 < 15 || $0 < 21 ? 1 : 0 }
        padded.queryMask = padded.keyMask
        var dropped = Case.selfAttention(B: 2, T: 19, heads: 3, headSize: 4, causal: true, seed: 4)
        dropped.dropout = Attention.ProbabilityDropout(probability: 0.3, stream: RandomStream(seed: 9, 1, 2, 3))
        var cross = Case.cross(B: 2, Tq: 13, Tk: 22, heads: 2, headSize: 8, seed: 5)
        cross.keyMask = (0 ..< 44).map { $0 < 22 || $0 % 22 < 9 ? 1 : 0 }
        cross.queryMask = (0 ..< 26).map { $0 % 13 == 12 ? 0 : 1 }
        return [("causal", .selfAttention(B: 2, T: 24, heads: 3, headSize: 4, causal: true, seed: 1)),
                ("bidirectional, partial tile", .selfAttention(B: 1, T: 19, heads: 2, headSize: 8, causal: false, seed: 2)),
                ("padded", padded), ("causal with dropout", dropped), ("cross, padded", cross)]
    }

    func testForwardAndBackwardMatchNaive() {
        for (name, c) in cases() {
            var random = TestRandom(seed: 11)
            let dOutput = random.buffer(c.outputCount)
            let reference = c.naive(dOutput: dOutput)
            for threads in [1, 3] {
                let output = FloatBuffer(count: c.outputCount), lse = FloatBuffer(count: c.shape.batch * c.shape.heads * c.shape.queryLength)
                c.flashForward(output, lse, threads: threads)
                assertClose(output, reference.output, tolerance: 1e-5, "\(name): output, threads \(threads)")
                let dQuery = FloatBuffer(count: c.query.count), dKeyValue = FloatBuffer(count: c.keyValue.count)
                c.flashBackward(dQuery, dKeyValue, dOutput, output, lse, threads: threads)
                if c.query === c.keyValue {
                    // Self-attention: all three gradients land in one fused buffer.
                    for i in 0 ..< dQuery.count { dQuery[i] += dKeyValue[i] }
                    let expected = FloatBuffer(count: c.query.count)
                    for i in 0 ..< expected.count { expected[i] = reference.dQuery[i] + reference.dKeyValue[i] }
                    assertClose(dQuery, expected, tolerance: 1e-5, "\(name): dq|dk|dv, threads \(threads)")
                } else {
                    assertClose(dQuery, reference.dQuery, tolerance: 1e-5, "\(name): dQ, threads \(threads)")
                    assertClose(dKeyValue, reference.dKeyValue, tolerance: 1e-5, "\(name): dK|dV, threads \(threads)")
                }
            }
        }
    }

    /// Centred differences of a weighted sum of the output with respect to the fused q|k|v input.
    func testFiniteDifferences() {
        var c = Case.selfAttention(B: 1, T: 12, heads: 2, headSize: 4, causal: true, seed: 6)
        c.dropout = Attention.ProbabilityDropout(probability: 0.2, stream: RandomStream(seed: 1, 1, 1, 1))
        var random = TestRandom(seed: 7)
        let weights = random.buffer(c.outputCount)
        let output = FloatBuffer(count: c.outputCount), lse = FloatBuffer(count: 2 * 12)
        c.flashForward(output, lse)
        let gradient = FloatBuffer(count: c.query.count), unused = FloatBuffer(count: c.query.count)
        c.flashBackward(gradient, unused, weights, output, lse)
        for i in 0 ..< gradient.count { gradient[i] += unused[i] }
        checkGradient("flash attention q|k|v", tensor: c.query, analytic: gradient, samples: 40, step: 1e-2, tolerance: 1e-2) {
            c.flashForward(output, lse)
            return weightedSum(output, weights)
        }
    }

    func testRepeatedRunsAreBitIdenticalAndMemoryIsLinear() {
        let c = Case.selfAttention(B: 2, T: 24, heads: 3, headSize: 4, causal: true, seed: 8)
        let a = FloatBuffer(count: c.outputCount), b = FloatBuffer(count: c.outputCount)
        let lse = FloatBuffer(count: 2 * 3 * 24)
        c.flashForward(a, lse, threads: 2)
        c.flashForward(b, lse, threads: 2)
        assertIdentical(a, b, "repeated forward")
    }

    /// The row kernels in C (mask and scale, exponentials and sums, score gradients) give the same
    /// bits on every instruction set, in every layout.
    func testSameOnEveryInstructionSet() throws {
        for (name, c) in cases() {
            try assertSameOnEveryInstructionSet("flash attention, \(name)") {
                var random = TestRandom(seed: 13)
                let dOutput = random.buffer(c.outputCount)
                let output = FloatBuffer(count: c.outputCount), lse = FloatBuffer(count: c.shape.batch * c.shape.heads * c.shape.queryLength)
                c.flashForward(output, lse)
                let dQuery = FloatBuffer(count: c.query.count), dKeyValue = FloatBuffer(count: c.keyValue.count)
                c.flashBackward(dQuery, dKeyValue, dOutput, output, lse)
                return [output, dQuery, dKeyValue]
            }
        }
    }

    /// bf16 tile products (oneDNN) against fp32, with bf16-sized tolerances.
    func testBF16TracksFP32() throws {
        try XCTSkipUnless(BF16.isNative, "this CPU lacks avx512_bf16: the bf16 attention is not run")
        for (name, c) in cases() {
            var random = TestRandom(seed: 12)
            let dOutput = random.buffer(c.outputCount)
            let lseCount = c.shape.batch * c.shape.heads * c.shape.queryLength
            let out32 = FloatBuffer(count: c.outputCount), lse32 = FloatBuffer(count: lseCount)
            let out16 = FloatBuffer(count: c.outputCount), lse16 = FloatBuffer(count: lseCount)
            c.flashForward(out32, lse32)
            c.flashForward(out16, lse16, precision: .bf16, threads: 2)
            assertClose(out16, out32, tolerance: 3e-2, "\(name): bf16 output")
            let dq32 = FloatBuffer(count: c.query.count), dkv32 = FloatBuffer(count: c.keyValue.count)
            let dq16 = FloatBuffer(count: c.query.count), dkv16 = FloatBuffer(count: c.keyValue.count)
            c.flashBackward(dq32, dkv32, dOutput, out32, lse32)
            c.flashBackward(dq16, dkv16, dOutput, out16, lse16, precision: .bf16, threads: 2)
            assertClose(dq16, dq32, tolerance: 5e-2, "\(name): bf16 dQ")
            assertClose(dkv16, dkv32, tolerance: 5e-2, "\(name): bf16 dK|dV")
        }
    }
}
