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

    /// Incremental decoding (`DecodingCache`): `input` holds one new position per row (context
    /// time 1), at position `cache.length`; a causal self-attention reads and extends block
    /// `layer` of the cache. Inference only (no dropout, nothing kept for backward).
    func step(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, memory: UnsafePointer<Float>?,
              context: PassContext, cache: DecodingCache, layer: Int)
}

extension ResidualSublayer {
    /// A sublayer that works position by position (feed-forward) steps as it runs forward.
    public func step(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, memory: UnsafePointer<Float>?,
              context: PassContext, cache: DecodingCache, layer: Int) {
        forward(output: output, input: input, memory: memory, context: context)
    }
}

/// The end of every residual sublayer's forward pass: `output = input + dropout(output)`.
func closeResidual(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, channels: Int,
                   context: PassContext, site: Int) {
    let count = context.rows * channels
    if let dropout = context.dropout {
        // One pass: output = input + dropout(output).
        Dropout.forward(output: output, residual: input, input: output, count: count, probability: dropout.probability,
                        stream: dropout.stream(site: site), parallelism: context.parallelism)
    } else {
        Residual.forward(output: output, output, input, count: count, parallelism: context.parallelism)
    }
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
