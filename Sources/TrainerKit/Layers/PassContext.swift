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
    /// The number format of the matrix products.
    public var precision: Precision
    /// Keep every attention probability (B, NH, Tq, Tk) for attention maps: the materialising
    /// `Attention` kernel runs instead of the tiled `FlashAttention` (inference only).
    public var recordsAttention: Bool

    public init(
        batch: Int, time: Int, memoryTime: Int = 0, mask: UnsafePointer<UInt8>? = nil,
        memoryMask: UnsafePointer<UInt8>? = nil, dropout: DropoutContext? = nil, parallelism: Parallelism = .serial,
        precision: Precision = .fp32, recordsAttention: Bool = false
    ) {
        self.batch = batch
        self.time = time
        self.memoryTime = memoryTime
        self.mask = mask
        self.memoryMask = memoryMask
        self.dropout = dropout
        self.parallelism = parallelism
        self.precision = precision
        self.recordsAttention = recordsAttention
    }

    /// B·T rows of activations.
    public var rows: Int { batch * time }
    /// B·memoryTime rows of memory.
    public var memoryRows: Int { batch * memoryTime }
}
