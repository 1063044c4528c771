import XCTest
import TrainerKit

/// Checks a pre-norm causal block and a cross-attention block, built from the library's sublayers,
/// against tensors computed independently by JAX autodiff in float64
/// (Fixtures/make_reference.py → Fixtures/reference_blocks.h5). Every tensor is compared with an
/// explicit tolerance and its max difference is printed.
final class ReferenceBlockTests: XCTestCase {
    /// Max |ours − reference| allowed, relative to max(1, max |reference|): float32 arithmetic
    /// against a float64 reference on O(1) values.
    let tolerance: Float = 2e-5

    func testCausalBlock() throws {
        try check(group: "causal_block")
    }

    func testCrossAttentionBlock() throws {
        try check(group: "cross_block")
    }

    private func check(group name: String) throws {
        let file = try HDF5File(path: fixturePath("reference_blocks.h5"), mode: .readOnly)
        let group = try file.group(name)
        let B = try group.intAttribute("batch"), T = try group.intAttribute("query_length")
        let Tk = try group.intAttribute("key_length"), C = try group.intAttribute("channels")
        let heads = try group.intAttribute("heads"), FF = try group.intAttribute("feed_forward")
        let epsilon = Float(try group.doubleAttribute("epsilon"))
        let isCross = try group.stringAttribute("causal") == "false"
        let activation: Activation = try group.stringAttribute("activation") == "relu" ? .relu : .geluTanh

        let attentionSpec = AttentionSublayerSpec(prefix: "block", norm: "norm1", attention: "attention",
                                                  kind: isCross ? .cross : .causal)
        let feedForwardSpec = FeedForwardSublayerSpec(prefix: "block", norm: "norm2", activation: activation)
        var layout = ParameterLayout()
        attentionSpec.declare(in: &layout, channels: C)
        feedForwardSpec.declare(in: &layout, channels: C, hidden: FF)
        let store = layout.makeStore()
        for entry in store.entries {
            let reference: [Float] = try group.read("params/" + entry.name.dropFirst("block/".count), as: Float.self)
            XCTAssertEqual(reference.count, entry.count, entry.name)
            store.values.pointer.advanced(by: entry.offset).update(from: reference, count: entry.count)
        }
        let limits = ActivationLimits(batch: B, time: T, memoryTime: isCross ? Tk : 0)
        let block = TransformerBlock(sublayers: [
            AttentionSublayer(attentionSpec, store: store, channels: C, heads: heads, epsilon: epsilon, limits: limits, dropoutSite: 0, probabilityDropoutSite: 2),
            FeedForwardSublayer(feedForwardSpec, store: store, channels: C, hidden: FF, epsilon: epsilon, limits: limits, dropoutSite: 1),
        ], channels: C, limits: limits)
        let scratch = BackwardScratch(limits: limits, channels: C, feedForward: FF)

        let x = FloatBuffer(try group.read("inputs/x", as: Float.self))
        let memory = isCross ? FloatBuffer(try group.read("inputs/memory", as: Float.self)) : nil
        let queryMask: [UInt8] = isCross ? try group.read("inputs/query_mask") : []
        let keyMask: [UInt8] = isCross ? try group.read("inputs/key_mask") : []
        // Twice: with the materialising kernel (recording the probabilities, compared too) and with
        // the tiled one that training uses.
        for recordsAttention in [true, false] {
            store.gradients.zero()
            let memoryGradient = FloatBuffer(count: memory?.count ?? 0)
            let streamGradient = FloatBuffer(try group.read("upstream_gradient", as: Float.self))
            try queryMask.withUnsafeBufferPointer { queryMask in
                try keyMask.withUnsafeBufferPointer { keyMask in
                    let context = PassContext(batch: B, time: T, memoryTime: isCross ? Tk : 0,
                                              mask: isCross ? queryMask.baseAddress : nil,
                                              memoryMask: isCross ? keyMask.baseAddress : nil,
                                              parallelism: Parallelism(threads: 2), recordsAttention: recordsAttention)
                    block.forward(input: x.readPointer, memory: memory?.readPointer, context: context)
                    let output = FloatBuffer(Array(UnsafeBufferPointer(start: block.output, count: B * T * C)))
                    try compare(output, group, "output")
                    if recordsAttention, let attention = block.sublayers.first as? AttentionSublayer {
                        try compare(attention.recordedProbabilities, group, "intermediate/attention_probabilities")
                    }
                    block.backward(streamGradient: streamGradient.pointer, input: x.readPointer, memory: memory?.readPointer,
                                   memoryGradient: isCross ? memoryGradient.pointer : nil, scratch: scratch, context: context)
                }
            }
            try compare(streamGradient, group, "grads/x")
            if isCross { try compare(memoryGradient, group, "grads/memory") }
            for entry in store.entries {
                let ours = FloatBuffer(Array(UnsafeBufferPointer(start: store.gradients.pointer + entry.offset, count: entry.count)))
                try compare(ours, group, "grads/" + entry.name.dropFirst("block/".count))
            }
        }
    }

    private func compare(_ ours: FloatBuffer, _ group: HDF5Group, _ name: String,
                         file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try group.read(name, as: Double.self)
        XCTAssertEqual(ours.count, reference.count, name, file: file, line: line)
        var difference = 0.0, scale = 1.0
        for i in 0 ..< min(ours.count, reference.count) {
            difference = max(difference, abs(Double(ours[i]) - reference[i]))
            scale = max(scale, abs(reference[i]))
        }
        print(String(format: "reference %@/%@: max |Δ| = %.2e (scale %.2f)", group.path, name, difference, scale))
        XCTAssertFalse(difference.isNaN, "\(name) has NaN", file: file, line: line)
        XCTAssertLessThanOrEqual(difference, Double(tolerance) * scale, "\(group.path)/\(name)", file: file, line: line)
    }
}
