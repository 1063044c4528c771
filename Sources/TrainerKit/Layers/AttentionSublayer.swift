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
        layout.addLinear(a + "/output", inputs: C, outputs: C, role: .residualWeight)
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
    /// Attention probabilities of the last forward pass, (B, NH, Tq, Tk), kept only when the pass
    /// `recordsAttention` (allocated then).
    public private(set) var probabilities: FloatBuffer?
    /// `probabilities` of a pass that recorded them.
    public var recordedProbabilities: FloatBuffer {
        guard let probabilities, materialized else { preconditionFailure("attention probabilities need a pass with recordsAttention") }
        return probabilities
    }
    /// Log-sum-exp of each query's scaled scores (B, NH, Tq): what `FlashAttention.backward` needs.
    let logSumExp: FloatBuffer
    let attended: FloatBuffer  // (rows, C) attention output before the output projection
    let limits: ActivationLimits
    /// Whether the last forward pass ran the materialising kernel (its backward must too).
    private var materialized = false

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
        self.limits = limits
        logSumExp = FloatBuffer(count: limits.batch * heads * limits.time)
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
        projections.forward(output: projected.pointer, input: normalized.readPointer, rows: rows, precision: context.precision,
                            threads)
        if let memoryProjections {
            guard let memory else { preconditionFailure("cross-attention needs a memory") }
            memoryProjections.forward(output: memoryProjected.pointer, input: memory, rows: context.memoryRows,
                                      precision: context.precision, threads)
        }
        let (kv, kvStride, keyOffset, valueOffset) = keyValueLayout
        let isCross = spec.kind == .cross
        materialized = context.recordsAttention
        if materialized {
            let keyTime = isCross ? limits.memoryTime : limits.time
            if probabilities == nil { probabilities = FloatBuffer(count: limits.batch * heads * limits.time * keyTime) }
            Attention.forward(
                output: attended.pointer, probabilities: probabilities!.pointer,
                query: projected.readPointer, queryStride: projections.outputs,
                key: kv + keyOffset, keyStride: kvStride, value: kv + valueOffset, valueStride: kvStride,
                keyMask: isCross ? context.memoryMask : context.mask, queryMask: context.mask,
                dropout: probabilityDropout(context), shape: shape(context), parallelism: threads)
        } else {
            FlashAttention.forward(
                output: attended.pointer, logSumExp: logSumExp.pointer,
                query: projected.readPointer, queryStride: projections.outputs,
                key: kv + keyOffset, keyStride: kvStride, value: kv + valueOffset, valueStride: kvStride,
                keyMask: isCross ? context.memoryMask : context.mask, queryMask: context.mask,
                dropout: probabilityDropout(context), shape: shape(context), precision: context.precision,
                parallelism: threads)
        }
        output.forward(output: out, input: attended.readPointer, rows: rows, precision: context.precision, threads)
        closeResidual(output: out, input: input, channels: C, context: context, site: dropoutSite)
    }

    /// Incremental decoding: attention of each row's new position over its cached positions and
    /// itself (causal self-attention; its key and value join block `layer` of `cache`), or over the
    /// memory projected by `prepareMemory` (cross-attention).
    public func step(output out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, memory: UnsafePointer<Float>?,
                     context: PassContext, cache: DecodingCache, layer: Int) {
        precondition(context.time == 1 && context.dropout == nil, "attention step: one position per row, no dropout")
        let C = channels, rows = context.batch, threads = context.parallelism
        norm.forward(output: normalized.pointer, input: input, rows: rows, threads)
        projections.forward(output: projected.pointer, input: normalized.readPointer, rows: rows, precision: context.precision,
                            threads)
        let scores = stepScores.pointer
        if spec.kind == .cross {
            let shape = Attention.Shape(batch: rows, queryLength: 1, keyLength: context.memoryTime, heads: heads,
                                        headSize: C / heads, causal: false)
            Attention.forward(output: attended.pointer, probabilities: scores, query: projected.readPointer, queryStride: C,
                              key: memoryProjected.readPointer, keyStride: 2 * C,
                              value: memoryProjected.readPointer + C, valueStride: 2 * C,
                              keyMask: context.memoryMask, shape: shape, parallelism: threads)
        } else {
            let position = cache.length
            precondition(position < cache.capacity, "attention step: the cache holds \(cache.capacity) positions")
            let keys = cache.keys[layer].pointer, values = cache.values[layer].pointer
            for r in 0 ..< rows {
                let source = projected.readPointer + r * 3 * C, slot = cache.offset(row: r, position: position)
                (keys + slot).update(from: source + C, count: C)
                (values + slot).update(from: source + 2 * C, count: C)
            }
            let shape = Attention.Shape(batch: rows, queryLength: 1, keyLength: position + 1, heads: heads,
                                        headSize: C / heads, causal: false)
            Attention.forward(output: attended.pointer, probabilities: scores, query: projected.readPointer, queryStride: 3 * C,
                              key: keys, keyStride: C, value: values, valueStride: C, shape: shape,
                              keyRowsPerSequence: cache.capacity, parallelism: threads)
        }
        output.forward(output: out, input: attended.readPointer, rows: rows, precision: context.precision, threads)
        closeResidual(output: out, input: input, channels: C, context: context, site: dropoutSite)
    }

    /// Scores of one decoding step, (rows, NH, keys).
    private lazy var stepScores = FloatBuffer(count: limits.batch * heads * max(limits.time, limits.memoryTime))

    /// Cross-attention before decoding step by step: projects `memory` (B·S rows of the context)
    /// to keys and values once.
    func prepareMemory(_ memory: UnsafePointer<Float>, context: PassContext) {
        guard let memoryProjections else { return }
        memoryProjections.forward(output: memoryProjected.pointer, input: memory, rows: context.memoryRows,
                                  precision: context.precision, context.parallelism)
    }

    /// Causal self-attention after a forward pass over whole prefixes (B, T): their keys and values
    /// become block `layer` of `cache` (positions 0 ..< T of rows 0 ..< B).
    func storeKeysValues(into cache: DecodingCache, layer: Int, context: PassContext) {
        precondition(spec.kind == .causal && context.time <= cache.capacity && context.batch <= cache.rows)
        let C = channels
        for b in 0 ..< context.batch {
            for t in 0 ..< context.time {
                let source = projected.readPointer + (b * context.time + t) * 3 * C, slot = cache.offset(row: b, position: t)
                (cache.keys[layer].pointer + slot).update(from: source + C, count: C)
                (cache.values[layer].pointer + slot).update(from: source + 2 * C, count: C)
            }
        }
    }

    public func backward(streamGradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                         memory: UnsafePointer<Float>?, memoryGradient: UnsafeMutablePointer<Float>?,
                         scratch: BackwardScratch, context: PassContext) {
        let C = channels, rows = context.rows, threads = context.parallelism
        let dBranch = branchGradient(streamGradient, scratch: scratch, channels: C, context: context, site: dropoutSite)
        // Output projection.
        let dAttended = scratch.attention.pointer
        dAttended.update(repeating: 0, count: rows * C)
        output.backward(inputGradient: dAttended, outputGradient: dBranch, input: attended.readPointer, rows: rows,
                        precision: context.precision, scratch: scratch, threads)
        // Attention.
        let dProjected = scratch.wide.pointer
        dProjected.update(repeating: 0, count: rows * projections.outputs)
        let (kv, kvStride, keyOffset, valueOffset) = keyValueLayout
        let dKeyValue = spec.kind == .cross ? scratch.memory.pointer : dProjected
        if spec.kind == .cross { dKeyValue.update(repeating: 0, count: context.memoryRows * 2 * C) }
        if materialized, let probabilities {
            Attention.backward(
                queryGradient: dProjected, queryGradientStride: projections.outputs,
                keyGradient: dKeyValue + keyOffset, keyGradientStride: kvStride,
                valueGradient: dKeyValue + valueOffset, valueGradientStride: kvStride,
                outputGradient: dAttended, probabilities: probabilities.readPointer,
                query: projected.readPointer, queryStride: projections.outputs,
                key: kv + keyOffset, keyStride: kvStride, value: kv + valueOffset, valueStride: kvStride,
                dropout: probabilityDropout(context), shape: shape(context), parallelism: threads)
        } else {
            let isCross = spec.kind == .cross
            FlashAttention.backward(
                queryGradient: dProjected, queryGradientStride: projections.outputs,
                keyGradient: dKeyValue + keyOffset, keyGradientStride: kvStride,
                valueGradient: dKeyValue + valueOffset, valueGradientStride: kvStride,
                outputGradient: dAttended, output: attended.readPointer, logSumExp: logSumExp.readPointer,
                query: projected.readPointer, queryStride: projections.outputs,
                key: kv + keyOffset, keyStride: kvStride, value: kv + valueOffset, valueStride: kvStride,
                keyMask: isCross ? context.memoryMask : context.mask, queryMask: context.mask,
                dropout: probabilityDropout(context), shape: shape(context), precision: context.precision,
                parallelism: threads)
        }
        // Projections, then the norm (its input gradient lands in the stream gradient).
        let dNormalized = scratch.branch.pointer
        dNormalized.update(repeating: 0, count: rows * C)
        projections.backward(inputGradient: dNormalized, outputGradient: dProjected, input: normalized.readPointer,
                             rows: rows, precision: context.precision, scratch: scratch, threads)
        if let memoryProjections, let memory {
            memoryProjections.backward(inputGradient: memoryGradient, outputGradient: dKeyValue, input: memory,
                                       rows: context.memoryRows, precision: context.precision, scratch: scratch, threads)
        }
        norm.backward(inputGradient: streamGradient, outputGradient: dNormalized, input: input, rows: rows, threads)
    }
}
