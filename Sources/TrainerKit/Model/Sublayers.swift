/// A pre-norm residual sublayer: `x ← x + dropout(f(norm(x)))`, with f an attention or a
/// feed-forward network. A Transformer block is a list of these; the GPT block is
/// [causal self-attention, feed-forward], the encoder block [self-attention, feed-forward], the
/// decoder block [causal self-attention, cross-attention, feed-forward].
///
/// Backward passes share one gradient buffer for the residual stream: a sublayer reads the
/// gradient of its output from it and adds the gradient through its branch back into it, which is
/// exactly `d input = d output + d branch` without a copy.
public protocol ResidualSublayer: AnyObject {
    /// `output = input + dropout(f(norm(input)))`; caches what backward needs.
    /// `memory` is the encoder output (B, memoryTime, C) for cross-attention, else ignored.
    func forward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                 memory: UnsafePointer<Float>?, context: PassContext)

    /// On entry `streamGradient` holds d loss / d output; on return d loss / d input. Parameter
    /// gradients are accumulated; `memoryGradient` (cross-attention) is accumulated too.
    func backward(streamGradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                  memory: UnsafePointer<Float>?, memoryGradient: UnsafeMutablePointer<Float>?,
                  scratch: BackwardScratch, context: PassContext)
}

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

    /// Scratch for a model of width `channels` and feed-forward width `feedForward`.
    public init(limits: ActivationLimits, channels C: Int, feedForward: Int) {
        let rows = limits.rows
        branch = FloatBuffer(count: rows * C)
        attention = FloatBuffer(count: rows * C)
        wide = FloatBuffer(count: rows * max(3 * C, feedForward))
        hidden = FloatBuffer(count: rows * feedForward)
        memory = FloatBuffer(count: limits.memoryRows * 2 * C)
    }
}

/// The end of every residual sublayer's forward pass: `output = input + dropout(output)`.
func closeResidual(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, channels: Int,
                   context: PassContext, site: Int) {
    let count = context.rows * channels
    if let dropout = context.dropout {
        Dropout.forward(output: output, input: output, count: count, probability: dropout.probability,
                        stream: dropout.stream(site: site), parallelism: context.parallelism)
    }
    Residual.forward(output: output, output, input, count: count, parallelism: context.parallelism)
}

/// The start of every residual sublayer's backward pass: the gradient of the branch output, back
/// through the dropout, in `scratch.branch`.
func branchGradient(_ streamGradient: UnsafePointer<Float>, scratch: BackwardScratch, channels: Int,
                    context: PassContext, site: Int) -> UnsafeMutablePointer<Float> {
    let count = context.rows * channels, dBranch = scratch.branch.pointer
    dBranch.update(repeating: 0, count: count)
    Dropout.backward(inputGradient: dBranch, outputGradient: streamGradient, count: count,
                     probability: context.dropout?.probability ?? 0,
                     stream: context.dropout?.stream(site: site) ?? RandomStream(seed: 0, 0, 0, 0),
                     parallelism: context.parallelism)
    return dBranch
}

/// A layer norm's parameters and cached statistics.
struct LayerNormLayer {
    let weight: ParameterView, bias: ParameterView
    let channels: Int, epsilon: Float
    let mean: FloatBuffer, reciprocalStd: FloatBuffer  // (rows)

    init(_ store: ParameterStore, _ name: String, channels: Int, epsilon: Float, rows: Int) {
        weight = store.view(name + "/weight")
        bias = store.view(name + "/bias")
        self.channels = channels
        self.epsilon = epsilon
        mean = FloatBuffer(count: rows)
        reciprocalStd = FloatBuffer(count: rows)
    }

    func forward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, _ parallelism: Parallelism) {
        LayerNorm.forward(output: output, mean: mean.pointer, reciprocalStd: reciprocalStd.pointer, input: input,
                          weight: weight.value, bias: bias.value, rows: rows, channels: channels, epsilon: epsilon,
                          parallelism: parallelism)
    }

    func backward(inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
                  input: UnsafePointer<Float>, rows: Int, _ parallelism: Parallelism) {
        LayerNorm.backward(inputGradient: inputGradient, weightGradient: weight.gradient, biasGradient: bias.gradient,
                           outputGradient: outputGradient, input: input, weight: weight.value,
                           mean: mean.readPointer, reciprocalStd: reciprocalStd.readPointer, rows: rows,
                           channels: channels, parallelism: parallelism)
    }
}

/// A Linear layer's parameters (weight `[out, in]`, optional bias `[out]`).
struct LinearLayer {
    let weight: ParameterView, bias: ParameterView?
    let inputs: Int, outputs: Int

    init(weight: ParameterView, bias: ParameterView?, inputs: Int, outputs: Int) {
        self.weight = weight
        self.bias = bias
        self.inputs = inputs
        self.outputs = outputs
    }

    init(_ store: ParameterStore, _ name: String, inputs: Int, outputs: Int, bias: Bool = true) {
        self.init(weight: store.view(name + "/weight"), bias: bias ? store.view(name + "/bias") : nil,
                  inputs: inputs, outputs: outputs)
    }

    /// Adjacent Linear layers `names` (declared with `addFusedLinears`) as one wider layer.
    init(fused store: ParameterStore, _ names: [String], inputs: Int, outputs: Int) {
        let first = store.view(names[0] + "/weight"), firstBias = store.view(names[0] + "/bias")
        for (i, name) in names.enumerated() {
            precondition(store.view(name + "/weight").value == first.value + i * outputs * inputs, "\(name) not fused")
            precondition(store.view(name + "/bias").value == firstBias.value + i * outputs, "\(name) bias not fused")
        }
        let count = names.count
        self.init(weight: ParameterView(value: first.value, gradient: first.gradient, count: count * outputs * inputs),
                  bias: ParameterView(value: firstBias.value, gradient: firstBias.gradient, count: count * outputs),
                  inputs: inputs, outputs: count * outputs)
    }

    func forward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, _ parallelism: Parallelism) {
        Linear.forward(output: output, input: input, weight: weight.value, bias: bias?.value, rows: rows,
                       inputChannels: inputs, outputChannels: outputs, parallelism: parallelism)
    }

    func backward(inputGradient: UnsafeMutablePointer<Float>?, outputGradient: UnsafePointer<Float>,
                  input: UnsafePointer<Float>, rows: Int, _ parallelism: Parallelism) {
        Linear.backward(inputGradient: inputGradient, weightGradient: weight.gradient, biasGradient: bias?.gradient,
                        outputGradient: outputGradient, input: input, weight: weight.value, rows: rows,
                        inputChannels: inputs, outputChannels: outputs, parallelism: parallelism)
    }
}

/// Names and kind of one attention sublayer inside a block.
public struct AttentionSublayerSpec: Sendable {
    /// Which sequence the keys come from, and whether the future is hidden.
    public enum Kind: Sendable { case causal, bidirectional, cross }
    /// Block prefix, e.g. `decoder/blocks/0`.
    public var prefix: String
    /// Name of the norm under the prefix, e.g. `norm2`.
    public var norm: String
    /// Name of the attention under the prefix, e.g. `cross_attention`.
    public var attention: String
    public var kind: Kind

    public init(prefix: String, norm: String, attention: String, kind: Kind) {
        self.prefix = prefix
        self.norm = norm
        self.attention = attention
        self.kind = kind
    }

    var normName: String { prefix + "/" + norm }
    var attentionName: String { prefix + "/" + attention }

    /// Declares the norm, the query/key/value projections (adjacent, for one fused product) and
    /// the output projection.
    public func declare(in layout: inout ParameterLayout, channels C: Int) {
        layout.addLayerNorm(normName, channels: C)
        let a = attentionName
        layout.addFusedLinears([a + "/query", a + "/key", a + "/value"], inputs: C, outputs: C)
        layout.addLinear(a + "/output", inputs: C, outputs: C)
    }
}

/// `x ← x + dropout(Wo·attention(norm(x)))`: self-attention (causal or not) or cross-attention
/// over a memory sequence.
public final class AttentionSublayer: ResidualSublayer {
    let spec: AttentionSublayerSpec
    let channels: Int, heads: Int, dropoutSite: Int, probabilityDropoutSite: Int
    let norm: LayerNormLayer
    let projections: LinearLayer  // self: q|k|v [3C, C]; cross: q [C, C]
    let memoryProjections: LinearLayer?  // cross: k|v [2C, C]
    let output: LinearLayer
    // Activations, sized for the limits.
    let normalized: FloatBuffer  // (rows, C)
    let projected: FloatBuffer  // (rows, 3C) self, (rows, C) cross
    let memoryProjected: FloatBuffer  // (memoryRows, 2C) cross
    /// Attention probabilities of the last forward pass, (B, NH, Tq, Tk).
    public let probabilities: FloatBuffer
    let attended: FloatBuffer  // (rows, C) attention output before the output projection

    /// `dropoutSite` numbers the residual dropout, `probabilityDropoutSite` the dropout on the
    /// attention probabilities (both only active when the pass context has dropout).
    public init(_ spec: AttentionSublayerSpec, store: ParameterStore, channels C: Int, heads: Int, epsilon: Float,
                limits: ActivationLimits, dropoutSite: Int, probabilityDropoutSite: Int) {
        self.spec = spec
        self.channels = C
        self.heads = heads
        self.dropoutSite = dropoutSite
        self.probabilityDropoutSite = probabilityDropoutSite
        norm = LayerNormLayer(store, spec.normName, channels: C, epsilon: epsilon, rows: limits.rows)
        let a = spec.attentionName
        if spec.kind == .cross {
            projections = LinearLayer(store, a + "/query", inputs: C, outputs: C)
            memoryProjections = LinearLayer(fused: store, [a + "/key", a + "/value"], inputs: C, outputs: C)
        } else {
            projections = LinearLayer(fused: store, [a + "/query", a + "/key", a + "/value"], inputs: C, outputs: C)
            memoryProjections = nil
        }
        output = LinearLayer(store, a + "/output", inputs: C, outputs: C)
        normalized = FloatBuffer(count: limits.rows * C)
        projected = FloatBuffer(count: limits.rows * projections.outputs)
        memoryProjected = FloatBuffer(count: spec.kind == .cross ? limits.memoryRows * 2 * C : 0)
        let keyTime = spec.kind == .cross ? limits.memoryTime : limits.time
        probabilities = FloatBuffer(count: limits.batch * heads * limits.time * keyTime)
        attended = FloatBuffer(count: limits.rows * C)
    }

    func shape(_ context: PassContext) -> Attention.Shape {
        Attention.Shape(batch: context.batch, queryLength: context.time,
                        keyLength: spec.kind == .cross ? context.memoryTime : context.time,
                        heads: heads, headSize: channels / heads, causal: spec.kind == .causal)
    }

    func probabilityDropout(_ context: PassContext) -> Attention.ProbabilityDropout? {
        context.dropout.map {
            Attention.ProbabilityDropout(probability: $0.probability, stream: $0.stream(site: probabilityDropoutSite))
        }
    }

    /// (keys, stride, key offset, value offset) of the current key/value source.
    private var keyValueLayout: (UnsafeMutablePointer<Float>, Int, Int, Int) {
        spec.kind == .cross ? (memoryProjected.pointer, 2 * channels, 0, channels)
                            : (projected.pointer, 3 * channels, channels, 2 * channels)
    }

    public func forward(output out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                        memory: UnsafePointer<Float>?, context: PassContext) {
        let C = channels, rows = context.rows, threads = context.parallelism
        norm.forward(output: normalized.pointer, input: input, rows: rows, threads)
        projections.forward(output: projected.pointer, input: normalized.readPointer, rows: rows, threads)
        if let memoryProjections {
            guard let memory else { preconditionFailure("cross-attention needs a memory") }
            memoryProjections.forward(output: memoryProjected.pointer, input: memory, rows: context.memoryRows, threads)
        }
        let (kv, kvStride, keyOffset, valueOffset) = keyValueLayout
        let isCross = spec.kind == .cross
        Attention.forward(
            output: attended.pointer, probabilities: probabilities.pointer,
            query: projected.readPointer, queryStride: projections.outputs,
            key: kv + keyOffset, keyStride: kvStride, value: kv + valueOffset, valueStride: kvStride,
            keyMask: isCross ? context.memoryMask : context.mask, queryMask: context.mask,
            dropout: probabilityDropout(context), shape: shape(context), parallelism: threads)
        output.forward(output: out, input: attended.readPointer, rows: rows, threads)
        closeResidual(output: out, input: input, channels: C, context: context, site: dropoutSite)
    }

    public func backward(streamGradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                         memory: UnsafePointer<Float>?, memoryGradient: UnsafeMutablePointer<Float>?,
                         scratch: BackwardScratch, context: PassContext) {
        let C = channels, rows = context.rows, threads = context.parallelism
        let dBranch = branchGradient(streamGradient, scratch: scratch, channels: C, context: context, site: dropoutSite)
        // Output projection.
        let dAttended = scratch.attention.pointer
        dAttended.update(repeating: 0, count: rows * C)
        output.backward(inputGradient: dAttended, outputGradient: dBranch, input: attended.readPointer, rows: rows, threads)
        // Attention.
        let dProjected = scratch.wide.pointer
        dProjected.update(repeating: 0, count: rows * projections.outputs)
        let (kv, kvStride, keyOffset, valueOffset) = keyValueLayout
        let dKeyValue = spec.kind == .cross ? scratch.memory.pointer : dProjected
        if spec.kind == .cross { dKeyValue.update(repeating: 0, count: context.memoryRows * 2 * C) }
        Attention.backward(
            queryGradient: dProjected, queryGradientStride: projections.outputs,
            keyGradient: dKeyValue + keyOffset, keyGradientStride: kvStride,
            valueGradient: dKeyValue + valueOffset, valueGradientStride: kvStride,
            outputGradient: dAttended, probabilities: probabilities.readPointer,
            query: projected.readPointer, queryStride: projections.outputs,
            key: kv + keyOffset, keyStride: kvStride, value: kv + valueOffset, valueStride: kvStride,
            dropout: probabilityDropout(context), shape: shape(context), parallelism: threads)
        // Projections, then the norm (its input gradient lands in the stream gradient).
        let dNormalized = scratch.branch.pointer
        dNormalized.update(repeating: 0, count: rows * C)
        projections.backward(inputGradient: dNormalized, outputGradient: dProjected, input: normalized.readPointer,
                             rows: rows, threads)
        if let memoryProjections, let memory {
            memoryProjections.backward(inputGradient: memoryGradient, outputGradient: dKeyValue, input: memory,
                                       rows: context.memoryRows, threads)
        }
        norm.backward(inputGradient: streamGradient, outputGradient: dNormalized, input: input, rows: rows, threads)
    }
}

/// Names and sizes of a feed-forward sublayer.
public struct FeedForwardSublayerSpec: Sendable {
    /// The nonlinearity between the two Linear layers.
    public enum Activation: String, Codable, Sendable, CaseIterable {
        case relu
        case gelu  // exact (PyTorch nn.GELU())
        case geluTanh = "gelu_tanh"  // GPT-2's approximation
    }
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
        layout.addLinear(networkName + "/linear2", inputs: hidden, outputs: C)
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
        linear1.forward(output: hidden.pointer, input: normalized.readPointer, rows: rows, threads)
        switch spec.activation {
        case .relu:
            ReLU.forward(output: activated.pointer, input: hidden.readPointer, count: count, parallelism: threads)
        case .gelu:
            GELU.forward(output: activated.pointer, input: hidden.readPointer, count: count, approximation: .exact,
                         parallelism: threads)
        case .geluTanh:
            GELU.forward(output: activated.pointer, input: hidden.readPointer, count: count, approximation: .tanh,
                         parallelism: threads)
        }
        linear2.forward(output: output, input: activated.readPointer, rows: rows, threads)
        closeResidual(output: output, input: input, channels: channels, context: context, site: dropoutSite)
    }

    public func backward(streamGradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                         memory: UnsafePointer<Float>?, memoryGradient: UnsafeMutablePointer<Float>?,
                         scratch: BackwardScratch, context: PassContext) {
        let rows = context.rows, threads = context.parallelism, count = rows * hiddenWidth
        let dBranch = branchGradient(streamGradient, scratch: scratch, channels: channels, context: context, site: dropoutSite)
        let dActivated = scratch.wide.pointer
        dActivated.update(repeating: 0, count: count)
        linear2.backward(inputGradient: dActivated, outputGradient: dBranch, input: activated.readPointer, rows: rows, threads)
        let dHidden = scratch.hidden.pointer
        dHidden.update(repeating: 0, count: count)
        switch spec.activation {
        case .relu:
            ReLU.backward(inputGradient: dHidden, outputGradient: dActivated, input: hidden.readPointer, count: count,
                          parallelism: threads)
        case .gelu:
            GELU.backward(inputGradient: dHidden, outputGradient: dActivated, input: hidden.readPointer, count: count,
                          approximation: .exact, parallelism: threads)
        case .geluTanh:
            GELU.backward(inputGradient: dHidden, outputGradient: dActivated, input: hidden.readPointer, count: count,
                          approximation: .tanh, parallelism: threads)
        }
        let dNormalized = scratch.branch.pointer
        dNormalized.update(repeating: 0, count: rows * channels)
        linear1.backward(inputGradient: dNormalized, outputGradient: dHidden, input: normalized.readPointer, rows: rows, threads)
        norm.backward(inputGradient: streamGradient, outputGradient: dNormalized, input: input, rows: rows, threads)
    }
}

/// A Transformer block: residual sublayers applied in order, each output kept for backward.
public final class TransformerBlock {
    /// The sublayers in forward order.
    public let sublayers: [ResidualSublayer]
    /// Output of each sublayer, (rows, C); the last is the block's output.
    let streams: [FloatBuffer]

    public init(sublayers: [ResidualSublayer], channels C: Int, limits: ActivationLimits) {
        self.sublayers = sublayers
        streams = sublayers.map { _ in FloatBuffer(count: limits.rows * C) }
    }

    /// The block's output (valid after `forward`), (rows, C).
    public var output: UnsafePointer<Float> { streams[streams.count - 1].readPointer }

    /// Runs every sublayer; the result is in `output`.
    public func forward(input: UnsafePointer<Float>, memory: UnsafePointer<Float>? = nil, context: PassContext) {
        var x = input
        for (sublayer, stream) in zip(sublayers, streams) {
            sublayer.forward(output: stream.pointer, input: x, memory: memory, context: context)
            x = stream.readPointer
        }
    }

    /// Backward in reverse order. On entry `streamGradient` is d loss / d output, on return
    /// d loss / d input.
    public func backward(streamGradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                         memory: UnsafePointer<Float>? = nil, memoryGradient: UnsafeMutablePointer<Float>? = nil,
                         scratch: BackwardScratch, context: PassContext) {
        for index in sublayers.indices.reversed() {
            let sublayerInput = index == 0 ? input : streams[index - 1].readPointer
            sublayers[index].backward(streamGradient: streamGradient, input: sublayerInput, memory: memory,
                                      memoryGradient: memoryGradient, scratch: scratch, context: context)
        }
    }
}
