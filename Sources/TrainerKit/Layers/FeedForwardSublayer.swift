/// Names and sizes of a feed-forward sublayer.
public struct FeedForwardSublayerSpec: Sendable {
    public var prefix: String
    public var norm: String
    public var name: String
    public var activation: Activation

    public init(prefix: String, norm: String, name: String = "feed_forward", activation: Activation) {
        self.prefix = prefix
        self.norm = norm
        self.name = name
        self.activation = activation
    }

    var normName: String { prefix + "/" + norm }
    var networkName: String { prefix + "/" + name }

    /// Declares the norm and the two Linear layers (`linear1` [FF, C], `linear2` [C, FF]).
    public func declare(in layout: inout ParameterLayout, channels C: Int, hidden: Int) {
        layout.addLayerNorm(normName, channels: C)
        layout.addLinear(networkName + "/linear1", inputs: C, outputs: hidden)
        layout.addLinear(networkName + "/linear2", inputs: hidden, outputs: C, role: .residualWeight)
    }
}

/// `x ← x + dropout(W2·act(W1·norm(x) + b1) + b2)`.
public final class FeedForwardSublayer: ResidualSublayer {
    let spec: FeedForwardSublayerSpec
    let channels: Int, hiddenWidth: Int, dropoutSite: Int
    let norm: LayerNormLayer
    let linear1: LinearLayer, linear2: LinearLayer
    let normalized: FloatBuffer  // (rows, C)
    let hidden: FloatBuffer  // (rows, FF) before the activation
    let activated: FloatBuffer  // (rows, FF)

    public init(_ spec: FeedForwardSublayerSpec, store: ParameterStore, channels C: Int, hidden FF: Int, epsilon: Float,
                limits: ActivationLimits, dropoutSite: Int) {
        self.spec = spec
        channels = C
        hiddenWidth = FF
        self.dropoutSite = dropoutSite
        norm = LayerNormLayer(store, spec.normName, channels: C, epsilon: epsilon, rows: limits.rows)
        linear1 = LinearLayer(store, spec.networkName + "/linear1", inputs: C, outputs: FF)
        linear2 = LinearLayer(store, spec.networkName + "/linear2", inputs: FF, outputs: C)
        normalized = FloatBuffer(count: limits.rows * C)
        hidden = FloatBuffer(count: limits.rows * FF)
        activated = FloatBuffer(count: limits.rows * FF)
    }

    public func forward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                        memory: UnsafePointer<Float>?, context: PassContext) {
        let rows = context.rows, threads = context.parallelism, count = rows * hiddenWidth
        norm.forward(output: normalized.pointer, input: input, rows: rows, threads)
        // GELU takes linear1's bias itself (one pass less); `hidden` is then x·W1ᵀ without it.
        let fusesBias = spec.activation != .relu
        linear1.forward(output: hidden.pointer, input: normalized.readPointer, rows: rows, precision: context.precision,
                        addsBias: !fusesBias, threads)
        switch spec.activation {
        case .relu:
            ReLU.forward(output: activated.pointer, input: hidden.readPointer, count: count, parallelism: threads)
        case .gelu, .geluTanh:
            GELU.forward(output: activated.pointer, input: hidden.readPointer, bias: linear1.bias!.value, rows: rows,
                         channels: hiddenWidth, approximation: spec.activation == .gelu ? .exact : .tanh,
                         parallelism: threads)
        }
        linear2.forward(output: output, input: activated.readPointer, rows: rows, precision: context.precision, threads)
        closeResidual(output: output, input: input, channels: channels, context: context, site: dropoutSite)
    }

    public func backward(streamGradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                         memory: UnsafePointer<Float>?, memoryGradient: UnsafeMutablePointer<Float>?,
                         scratch: BackwardScratch, context: PassContext) {
        let rows = context.rows, threads = context.parallelism, count = rows * hiddenWidth
        let dBranch = branchGradient(streamGradient, scratch: scratch, channels: channels, context: context, site: dropoutSite)
        let dActivated = scratch.wide.pointer
        dActivated.update(repeating: 0, count: count)
        linear2.backward(inputGradient: dActivated, outputGradient: dBranch, input: activated.readPointer, rows: rows,
                         precision: context.precision, scratch: scratch, threads)
        let dHidden = scratch.hidden.pointer
        dHidden.update(repeating: 0, count: count)
        let fusesBias = spec.activation != .relu
        switch spec.activation {
        case .relu:
            ReLU.backward(inputGradient: dHidden, outputGradient: dActivated, input: hidden.readPointer, count: count,
                          parallelism: threads)
        case .gelu, .geluTanh:
            GELU.backward(inputGradient: dHidden, biasGradient: linear1.bias!.gradient, outputGradient: dActivated,
                          input: hidden.readPointer, bias: linear1.bias!.value, rows: rows, channels: hiddenWidth,
                          approximation: spec.activation == .gelu ? .exact : .tanh, parallelism: threads)
        }
        let dNormalized = scratch.branch.pointer
        dNormalized.update(repeating: 0, count: rows * channels)
        linear1.backward(inputGradient: dNormalized, outputGradient: dHidden, input: normalized.readPointer, rows: rows,
                         precision: context.precision, addsBias: !fusesBias, scratch: scratch, threads)
        norm.backward(inputGradient: streamGradient, outputGradient: dNormalized, input: input, rows: rows, threads)
    }
}
