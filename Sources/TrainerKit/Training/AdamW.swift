import Foundation

/// AdamW (Loshchilov & Hutter; PyTorch's `torch.optim.AdamW`): Adam moments with bias correction
/// and weight decay decoupled from the gradient, applied only to tensors marked `decays`.
/// The moments are two flat buffers with the parameters' layout; the update is one loop per tensor.
public final class AdamW: @unchecked Sendable {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// Updates taken so far (the bias-correction exponent).
    public var step: Int = 0
    /// First moments, same layout as the parameters.
    public let m: FloatBuffer
    /// Second moments.
    public let v: FloatBuffer

    public init(parameterCount: Int, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        m = FloatBuffer(count: parameterCount)
        v = FloatBuffer(count: parameterCount)
    }

    /// One update of every parameter from `parameters.gradients` at learning rate `lr`:
    /// `p ← p − lr·λ·p` (decaying tensors), `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
    /// `p ← p − lr·m̂/(√v̂ + ε)` with `m̂ = m/(1−β1^t)`, `v̂ = v/(1−β2^t)`.
    /// With `clearGradients` the gradients are zeroed as they are consumed (saving the next step a
    /// pass over them).
    /// - Complexity: a few operations per parameter; elementwise, so split between threads freely.
    public func update(_ parameters: ParameterStore, lr: Float, parallelism: Parallelism, clearGradients: Bool = false) {
        let region = StepProfile.begin("AdamW update")
        defer { StepProfile.end(region) }
        step += 1
        let correction1 = 1 - Float(pow(Double(beta1), Double(step)))
        let correction2 = 1 - Float(pow(Double(beta2), Double(step)))
        let stepSize = lr / correction1
        let b1 = beta1, b2 = beta2, eps = epsilon
        let sqrtCorrection2 = correction2.squareRoot()
        for entry in parameters.entries {
            let p = parameters.values.pointer + entry.offset, g = parameters.gradients.pointer + entry.offset
            let m = self.m.pointer + entry.offset, v = self.v.pointer + entry.offset
            let decay = entry.decays ? 1 - lr * weightDecay : 1
            parallelism.forEachPiece(count: entry.count) { _, range in
                for i in range {
                    let gradient = g[i]
                    let m1 = b1 * m[i] + (1 - b1) * gradient
                    let v1 = b2 * v[i] + (1 - b2) * gradient * gradient
                    m[i] = m1
                    v[i] = v1
                    let denominator = v1.squareRoot() / sqrtCorrection2 + eps
                    p[i] = p[i] * decay - stepSize * m1 / denominator
                }
                // The next step starts from zero gradients: clear them while they are in cache.
                if clearGradients { (g + range.lowerBound).update(repeating: 0, count: range.count) }
            }
        }
    }
}
