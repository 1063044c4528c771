/// AdamW's hyperparameters and gradient clipping.
public struct OptimizerConfig: Codable, Sendable, Equatable {
    /// Peak learning rate (reached at the end of the warm-up).
    public var lr = 1e-3
    /// Decay rate of the first-moment estimate.
    public var beta1 = 0.9
    /// Decay rate of the second-moment estimate.
    public var beta2 = 0.99
    /// Added to the square root of the second moment.
    public var eps = 1e-8
    /// Decoupled weight decay, applied to the matrices (not to biases, norms).
    public var weightDecay = 0.1
    /// Largest global L2 norm of the gradient; larger ones are scaled down to it. 0 disables clipping.
    public var gradClip = 1.0

    enum CodingKeys: String, CodingKey, CaseIterable {
        case lr, beta1, beta2, eps
        case weightDecay = "weight_decay"
        case gradClip = "grad_clip"
    }

    /// The default optimizer.
    public init() {}

}
