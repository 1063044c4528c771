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

extension DropoutContext {
    /// Dropout in place on `count` activations at `site` (the embeddings' dropout).
    func applyInPlace(_ values: UnsafeMutablePointer<Float>, count: Int, site: Int, parallelism: Parallelism) {
        Dropout.forward(output: values, input: values, count: count, probability: probability, stream: stream(site: site),
                        parallelism: parallelism)
    }

    /// The gradient through `applyInPlace` at `site`, written into `scratch` (zeroed first).
    func backward(_ gradient: UnsafePointer<Float>, count: Int, site: Int, into scratch: UnsafeMutablePointer<Float>,
                  parallelism: Parallelism) -> UnsafePointer<Float> {
        scratch.update(repeating: 0, count: count)
        Dropout.backward(inputGradient: scratch, outputGradient: gradient, count: count, probability: probability,
                         stream: stream(site: site), parallelism: parallelism)
        return UnsafePointer(scratch)
    }
}
