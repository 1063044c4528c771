/// Everything a forward or backward pass needs besides parameters and activations: the sizes of
/// this micro-batch, its masks, dropout, and threads.
public struct PassContext: @unchecked Sendable {
    /// Sequences in the micro-batch (B).
    public var batch: Int
    /// Positions per sequence on the side being computed (T).
    public var time: Int
    /// Positions per sequence of the cross-attention memory (encoder side), 0 without one.
    public var memoryTime: Int
    /// (B, T): 1 for real tokens, 0 for padding; hides padded keys and zeroes padded queries in
    /// self-attention. nil: no padding.
    public var mask: UnsafePointer<UInt8>?
    /// (B, memoryTime): padding of the cross-attention memory; nil: none.
    public var memoryMask: UnsafePointer<UInt8>?
    /// Dropout for training; nil during evaluation and generation.
    public var dropout: DropoutContext?
    /// Threads for the kernels.
    public var parallelism: Parallelism

    public init(
        batch: Int, time: Int, memoryTime: Int = 0, mask: UnsafePointer<UInt8>? = nil,
        memoryMask: UnsafePointer<UInt8>? = nil, dropout: DropoutContext? = nil, parallelism: Parallelism = .serial
    ) {
        self.batch = batch
        self.time = time
        self.memoryTime = memoryTime
        self.mask = mask
        self.memoryMask = memoryMask
        self.dropout = dropout
        self.parallelism = parallelism
    }

    /// B·T rows of activations.
    public var rows: Int { batch * time }
    /// B·memoryTime rows of memory.
    public var memoryRows: Int { batch * memoryTime }
}

/// Where dropout masks come from: a Philox stream per (seed, step, micro-batch, site), so a mask
/// depends only on what it is for, never on which rank computes it.
public struct DropoutContext: Sendable, Equatable {
    /// The run's seed.
    public var seed: UInt64
    /// Optimizer step.
    public var step: Int
    /// Micro-batch index within the step (global over ranks).
    public var microBatch: Int
    /// Probability of zeroing an activation.
    public var probability: Float

    public init(seed: UInt64, step: Int, microBatch: Int, probability: Float) {
        self.seed = seed
        self.step = step
        self.microBatch = microBatch
        self.probability = probability
    }

    /// The stream of the dropout at `site` (each dropout location of a model has its own number).
    public func stream(site: Int) -> RandomStream {
        RandomStream(seed: seed, UInt32(truncatingIfNeeded: site), UInt32(truncatingIfNeeded: microBatch),
                     UInt32(truncatingIfNeeded: step))
    }
}
