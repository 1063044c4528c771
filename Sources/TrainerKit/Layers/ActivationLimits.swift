/// Sizes that bound every activation buffer of a model.
public struct ActivationLimits: Sendable, Equatable {
    /// Largest micro-batch (sequences).
    public var batch: Int
    /// Longest sequence on the computed side.
    public var time: Int
    /// Longest memory (encoder) sequence, 0 without cross-attention.
    public var memoryTime: Int

    public init(batch: Int, time: Int, memoryTime: Int = 0) {
        self.batch = batch
        self.time = time
        self.memoryTime = memoryTime
    }

    var rows: Int { batch * time }
    var memoryRows: Int { batch * memoryTime }
}
