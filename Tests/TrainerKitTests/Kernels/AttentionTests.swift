import XCTest
import TrainerKit

/// Attention inputs laid out like the model's: fused (B, T, 3C) q|k|v for self-attention; separate
/// query (B, Tq, C) and fused (B, Tk, 2C) k|v for cross-attention.
private struct AttentionCase {
    let shape: Attention.Shape
    let query: FloatBuffer, keyValue: FloatBuffer
    let queryStride: Int, keyStride: Int
    let keyOffset: Int, valueOffset: Int
    var keyMask: [UInt8]?
    var queryMask: [UInt8]?
    var dropout: Attention.ProbabilityDropout?

    /// Self-attention over a fused qkv buffer.
    init(selfAttention B: Int, T: Int, heads: Int, headSize: Int, causal: Bool, seed: UInt64) {
        var random = TestRandom(seed: seed)
        shape = Attention.Shape(batch: B, queryLength: T, keyLength: T, heads: heads, headSize: headSize, causal: causal)
        let C = heads * headSize
        query = random.buffer(B * T * 3 * C, scale: 1.5)
        keyValue = query
        queryStride = 3 * C
        keyStride = 3 * C
        keyOffset = C
        valueOffset = 2 * C
    }

    /// Cross-attention: separate queries, fused key|value memory.
    init(cross B: Int, Tq: Int, Tk: Int, heads: Int, headSize: Int, seed: UInt64) {
        var random = TestRandom(seed: seed)
        shape = Attention.Shape(batch: B, queryLength: Tq, keyLength: Tk, heads: heads, headSize: headSize, causal: false)
        let C = heads * headSize
        query = random.buffer(B * Tq * C, scale: 1.5)
        keyValue = random.buffer(B * Tk * 2 * C, scale: 1.5)
        queryStride = C
        keyStride = 2 * C
        keyOffset = 0
        valueOffset = C
    }

    var outputCount: Int { shape.batch * shape.queryLength * shape.channels }
    var probabilityCount: Int { shape.batch * shape.heads * shape.queryLength * shape.keyLength }

    func forward(_ output: FloatBuffer, _ probabilities: FloatBuffer, naive: Bool = false, threads: Int = 1) {
        withMasks { keyMask, queryMask in
            if naive {
                Attention.forwardNaive(
                    output: output.pointer, probabilities: probabilities.pointer,
                    query: query.readPointer, queryStride: queryStride,
                    key: keyValue.readPointer + keyOffset, keyStride: keyStride,
                    value: keyValue.readPointer + valueOffset, valueStride: keyStride,
                    keyMask: keyMask, queryMask: queryMask, dropout: dropout, shape: shape)
            } else {
                Attention.forward(
                    output: output.pointer, probabilities: probabilities.pointer,
                    query: query.readPointer, queryStride: queryStride,
                    key: keyValue.readPointer + keyOffset, keyStride: keyStride,
                    value: keyValue.readPointer + valueOffset, valueStride: keyStride,
                    keyMask: keyMask, queryMask: queryMask, dropout: dropout, shape: shape,
                    parallelism: Parallelism(threads: threads))
            }
        }
    }

    /// Gradients into buffers shaped like `query` and `keyValue`.
    func backward(_ dQuery: FloatBuffer, _ dKeyValue: FloatBuffer, _ dOutput: FloatBuffer, _ probabilities: FloatBuffer,
                  naive: Bool = false, threads: Int = 1) {
        if naive {
            Attention.backwardNaive(
                queryGradient: dQuery.pointer, queryGradientStride: queryStride,
                keyGradient: dKeyValue.pointer + keyOffset, keyGradientStride: keyStride,
                valueGradient: dKeyValue.pointer + valueOffset, valueGradientStride: keyStride,
                outputGradient: dOutput.readPointer, probabilities: probabilities.readPointer,
                query: query.readPointer, queryStride: queryStride,
                key: keyValue.readPointer + keyOffset, keyStride: keyStride,
                value: keyValue.readPointer + valueOffset, valueStride: keyStride, dropout: dropout, shape: shape)
        } else {
            Attention.backward(
                queryGradient: dQuery.pointer, queryGradientStride: queryStride,
                keyGradient: dKeyValue.pointer + keyOffset, keyGradientStride: keyStride,
                valueGradient: dKeyValue.pointer + valueOffset, valueGradientStride: keyStride,
                outputGradient: dOutput.readPointer, probabilities: probabilities.readPointer,
                query: query.readPointer, queryStride: queryStride,
                key: keyValue.readPointer + keyOffset, keyStride: keyStride,
                value: keyValue.readPointer + valueOffset, valueStride: keyStride,
                dropout: dropout, shape: shape, parallelism: Parallelism(threads: threads))
        }
    }

    private func withMasks(_ body: (UnsafePointer<UInt8>?, UnsafePointer<UInt8>?) -> Void) {
        let keys = keyMask ?? [], queries = queryMask ?? []
        keys.withUnsafeBufferPointer { k in
            queries.withUnsafeBufferPointer { q in
                body(keyMask == nil ? nil : k.baseAddress, queryMask == nil ? nil : q.baseAddress)
            }
        }
    }
}

final class AttentionTests: XCTestCase {
    override func tearDown() {
        Attention.queryBlock = 64
    }

    private func cases() -> [(String, AttentionCase)] {
        var cross = AttentionCase(cross: 2, Tq: 5, Tk: 7, heads: 2, headSize: 4, seed: 31)
        cross.keyMask = [1, 1, 1, 1, 1, 1, 1, /* second sequence: last 3 keys padded */ 1, 1, 1, 1, 0, 0, 0]
        cross.queryMask = [1, 1, 1, 1, 1, /* second sequence: last 2 queries padded */ 1, 1, 1, 0, 0]
        var paddedSelf = AttentionCase(selfAttention: 2, T: 6, heads: 3, headSize: 4, causal: false, seed: 32)
        paddedSelf.keyMask = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
        paddedSelf.queryMask = paddedSelf.keyMask
        var dropped = AttentionCase(selfAttention: 2, T: 9, heads: 2, headSize: 4, causal: true, seed: 39)
        dropped.dropout = Attention.ProbabilityDropout(probability: 0.3, stream: RandomStream(seed: 5, 7, 1, 2))
        var droppedCross = cross
        droppedCross.dropout = Attention.ProbabilityDropout(probability: 0.25, stream: RandomStream(seed: 6, 7, 1, 2))
        return [
            ("causal with dropout", dropped),
            ("cross with masks and dropout", droppedCross),
            ("causal", AttentionCase(selfAttention: 2, T: 7, heads: 2, headSize: 4, causal: true, seed: 30)),
            ("cross with masks", cross),
            ("padded self", paddedSelf),
        ]
    }

    func testForwardAndBackwardMatchNaive() {
        for queryBlock in [64, 2, 3] {
            Attention.queryBlock = queryBlock
            for (name, c) in cases() {
                for threads in [1, 3] {
                    let out = FloatBuffer(count: c.outputCount), p = FloatBuffer(count: c.probabilityCount)
                    let outRef = FloatBuffer(count: c.outputCount), pRef = FloatBuffer(count: c.probabilityCount)
                    // Poison: every element must be written.
                    for i in 0 ..< p.count { p[i] = .nan }
                    for i in 0 ..< out.count { out[i] = .nan }
                    c.forward(out, p, threads: threads)
                    c.forward(outRef, pRef, naive: true)
                    let label = "\(name) block=\(queryBlock) threads=\(threads)"
                    assertClose(out, outRef, tolerance: 1e-5, "\(label) output")
                    assertClose(p, pRef, tolerance: 1e-5, "\(label) probabilities")

                    var random = TestRandom(seed: 40)
                    let dOut = random.buffer(c.outputCount)
                    let dq = random.buffer(c.query.count), dkv = random.buffer(c.keyValue.count)
                    let dqRef = FloatBuffer(dq.array()), dkvRef = FloatBuffer(dkv.array())
                    c.backward(dq, dkv, dOut, p, threads: threads)
                    c.backward(dqRef, dkvRef, dOut, pRef, naive: true)
                    assertClose(dq, dqRef, tolerance: 1e-5, "\(label) dQ")
                    assertClose(dkv, dkvRef, tolerance: 1e-5, "\(label) dK,dV")
                }
            }
        }
    }

    func testMaskedAndPaddedRowsAreZeroNotNaN() {
        var c = AttentionCase(selfAttention: 1, T: 4, heads: 1, headSize: 4, causal: false, seed: 33)
        c.keyMask = [0, 0, 0, 0]  // nothing visible at all
        c.queryMask = [1, 1, 0, 1]
        let out = FloatBuffer(count: c.outputCount), p = FloatBuffer(count: c.probabilityCount)
        c.forward(out, p)
        XCTAssertTrue(out.array().allSatisfy { $0 == 0 }, "rows with no visible key give zero output")
        XCTAssertTrue(p.array().allSatisfy { $0 == 0 })

        var d = AttentionCase(cross: 1, Tq: 3, Tk: 4, heads: 2, headSize: 2, seed: 34)
        d.queryMask = [1, 0, 1]
        d.keyMask = [1, 1, 0, 1]
        let out2 = FloatBuffer(count: d.outputCount), p2 = FloatBuffer(count: d.probabilityCount)
        d.forward(out2, p2)
        let C = 4
        for i in 0 ..< C { XCTAssertEqual(out2[1 * C + i], 0, "padded query row is zero") }
        XCTAssertFalse(out2.array().contains { $0.isNaN })
        // Masked key 2 has probability 0 for every query and head; visible rows sum to 1.
        for h in 0 ..< 2 {
            for i in [0, 2] {
                let row = (h * 3 + i) * 4
                XCTAssertEqual(p2[row + 2], 0)
                XCTAssertEqual(p2[row] + p2[row + 1] + p2[row + 3], 1, accuracy: 1e-6)
            }
        }
        // Gradients never flow from a padded query.
        var random = TestRandom(seed: 35)
        let dOut = random.buffer(d.outputCount)
        let dq = FloatBuffer(count: d.query.count), dkv = FloatBuffer(count: d.keyValue.count)
        d.backward(dq, dkv, dOut, p2)
        for i in 0 ..< C { XCTAssertEqual(dq[C + i], 0) }
        XCTAssertFalse(dq.array().contains { $0.isNaN } || dkv.array().contains { $0.isNaN })
    }

    func testCausalRowsIgnoreTheFuture() {
        let c = AttentionCase(selfAttention: 1, T: 5, heads: 1, headSize: 4, causal: true, seed: 36)
        let out = FloatBuffer(count: c.outputCount), p = FloatBuffer(count: c.probabilityCount)
        c.forward(out, p)
        for i in 0 ..< 5 {
            for j in 0 ..< 5 where j > i { XCTAssertEqual(p[i * 5 + j], 0) }
        }
        // Changing the last position's key and value leaves earlier outputs unchanged.
        let before = out.array()
        for ch in 4 ..< 12 { c.query[4 * 12 + ch] += 1 }
        c.forward(out, p)
        XCTAssertEqual(Array(before[0 ..< 16]), Array(out.array()[0 ..< 16]))
    }

    func testFiniteDifferences() {
        for queryBlock in [64, 2] {
            Attention.queryBlock = queryBlock
            for (name, c) in cases() {
                var random = TestRandom(seed: 50)
                let weights = random.buffer(c.outputCount)
                let out = FloatBuffer(count: c.outputCount), p = FloatBuffer(count: c.probabilityCount)
                func loss() -> Double {
                    c.forward(out, p)
                    return weightedSum(out, weights)
                }
                _ = loss()
                let dq = FloatBuffer(count: c.query.count), dkv = FloatBuffer(count: c.keyValue.count)
                c.backward(dq, dkv, weights, p)
                if c.keyValue === c.query {
                    // Fused q|k|v: the gradient of the shared buffer is the sum of both (disjoint columns).
                    for i in 0 ..< dq.count { dq[i] += dkv[i] }
                    checkGradient("attention \(name) dQKV", tensor: c.query, analytic: dq, samples: 60, loss: loss)
                } else {
                    checkGradient("attention \(name) dQ", tensor: c.query, analytic: dq, samples: 40, loss: loss)
                    checkGradient("attention \(name) dK,dV", tensor: c.keyValue, analytic: dkv, samples: 60, loss: loss)
                }
            }
        }
    }

    func testRepeatedRunsAreBitIdentical() {
        let c = AttentionCase(selfAttention: 3, T: 40, heads: 4, headSize: 8, causal: true, seed: 37)
        var random = TestRandom(seed: 38)
        let dOut = random.buffer(c.outputCount)
        func run() -> [FloatBuffer] {
            let out = FloatBuffer(count: c.outputCount), p = FloatBuffer(count: c.probabilityCount)
            c.forward(out, p, threads: 2)
            let dq = FloatBuffer(count: c.query.count), dkv = FloatBuffer(count: c.keyValue.count)
            c.backward(dq, dkv, dOut, p, threads: 2)
            return [out, p, dq]
        }
        let first = run(), second = run()
        for (a, b) in zip(first, second) { assertIdentical(a, b, "attention repeat") }
    }
}
