/// Scratch gradient buffers shared by all sublayers of a model (backward runs one at a time).
public final class BackwardScratch: @unchecked Sendable {
    /// (rows, C): gradient of a branch output, then of a norm output.
    let branch: FloatBuffer
    /// (rows, C): gradient of the attention output.
    let attention: FloatBuffer
    /// (rows, max(3C, FF)): gradient of the q|k|v projections or of the activated hidden layer.
    let wide: FloatBuffer
    /// (rows, FF): gradient of the hidden pre-activation.
    let hidden: FloatBuffer
    /// (memoryRows, 2C): gradient of the cross-attention k|v projections.
    let memory: FloatBuffer
    /// bf16 copy of a Linear layer's output gradient (`precision: bf16`), grown on demand.
    private var bf16Buffer: UnsafeMutablePointer<UInt16>?
    private var bf16Capacity = 0

    /// Scratch for a model of width `channels` and feed-forward width `feedForward`.
    public init(limits: ActivationLimits, channels C: Int, feedForward: Int) {
        let rows = limits.rows
        branch = FloatBuffer(count: rows * C)
        attention = FloatBuffer(count: rows * C)
        wide = FloatBuffer(count: rows * max(3 * C, feedForward))
        hidden = FloatBuffer(count: rows * feedForward)
        memory = FloatBuffer(count: limits.memoryRows * 2 * C)
    }

    deinit { bf16Buffer?.deallocate() }

    /// A bf16 buffer of at least `count` values (its contents are the caller's until the next call).
    func bf16(count: Int) -> UnsafeMutablePointer<UInt16> {
        if bf16Capacity < count {
            bf16Buffer?.deallocate()
            bf16Buffer = alignedAllocate(UInt16.self, count: count)
            bf16Capacity = count
        }
        return bf16Buffer!
    }
}
