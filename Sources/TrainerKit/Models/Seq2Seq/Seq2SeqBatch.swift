/// Sentence pairs (token ids without specials) padded into the encoder–decoder's inputs for
/// teacher forcing: the encoder reads [SOS] source [EOS], the decoder [SOS] target and is scored on
/// target [EOS]. Rows are padded to the longest source (S) and target (T) of the batch; padding is
/// masked out and labelled `Seq2SeqModel.ignoreIndex`.
struct Seq2SeqBatch {
    /// Pairs in the batch (B).
    let batch: Int
    /// The longest encoder input (S) and decoder input (T), specials included.
    let sourceLength: Int, targetLength: Int
    var source: [Int32], sourceMask: [UInt8]  // (B, S)
    var target: [Int32], targetMask: [UInt8], labels: [Int32]  // (B, T)
    /// Tokens that are not padding, on each side.
    private(set) var sourceTokens = 0, targetTokens = 0

    init(_ pairs: [([Int32], [Int32])], source s: SpecialTokens, target t: SpecialTokens) {
        let B = pairs.count
        let S = pairs.map { $0.0.count + 2 }.max()!, T = pairs.map { $0.1.count + 1 }.max()!
        (batch, sourceLength, targetLength) = (B, S, T)
        source = [Int32](repeating: s.pad, count: B * S)
        sourceMask = [UInt8](repeating: 0, count: B * S)
        target = [Int32](repeating: t.pad, count: B * T)
        targetMask = [UInt8](repeating: 0, count: B * T)
        labels = [Int32](repeating: Seq2SeqModel.ignoreIndex, count: B * T)
        for (b, (src, tgt)) in pairs.enumerated() {
            let encoderInput = [s.sos] + src + [s.eos]
            for (j, id) in encoderInput.enumerated() {
                source[b * S + j] = id
                sourceMask[b * S + j] = 1
            }
            let decoderInput = [t.sos] + tgt, label = tgt + [t.eos]
            for j in 0 ..< decoderInput.count {
                target[b * T + j] = decoderInput[j]
                targetMask[b * T + j] = 1
                labels[b * T + j] = label[j]
            }
            sourceTokens += encoderInput.count
            targetTokens += decoderInput.count
        }
    }

    /// Runs `model` forward on the batch (encoder, then decoder with the labels) and returns the
    /// summed loss.
    func forward(_ model: Seq2SeqModel, dropout: DropoutContext?, parallelism: Parallelism) -> CrossEntropy.Total {
        model.encode(source: source, mask: sourceMask, batch: batch, length: sourceLength, dropout: dropout,
                     parallelism: parallelism)
        return model.decode(target: target, mask: targetMask, labels: labels, batch: batch, length: targetLength,
                            sourceLength: sourceLength, dropout: dropout, parallelism: parallelism)!
    }
}
