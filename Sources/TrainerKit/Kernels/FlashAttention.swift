import CKernels
import Foundation

/// Scaled dot-product attention without the T×T probability matrix (FlashAttention-2's scheme):
/// the same results as `Attention` (masks, causal, cross, dropout on the probabilities with the
/// same Philox masks), computed tile by tile.
///
/// Forward, per (sequence, head) and block of query rows: for each block of keys the queries can
/// see (fully masked causal blocks are skipped), the scores of the tile, an online softmax (the
/// running maximum m and sum l of each row rescale the partial output), and the partial output
/// `+= dropout(P)·V`. Only the output and each row's log-sum-exp `L = m + log l` are kept.
/// Backward, per block of keys: each visible block of queries recomputes its probabilities
/// `P = exp(S − L)` and accumulates `dV += dropout(P)ᵀ·dO`, `dQ += dS·K`, `dK += dSᵀ·Q` with
/// `dS = P ⊙ (dP − D)`, `D = rowsum(dO ⊙ O)`. Memory per call is a few tiles per thread, not T².
///
/// Pieces are whole (sequence, head) pairs, which write disjoint parts of every output; within a
/// pair the tiles run in a fixed order. In `.bf16` the tile products take bf16 operands (the head's
/// Q, K, V and dO converted once per pair, P and dS per tile) and accumulate in fp32; the softmax,
/// L, D and all sums stay fp32.
public enum FlashAttention {
    /// Query rows per tile. 64 × 128 tiles measured fastest of 64–256 on each side (seed GPT,
    /// T = 256, HS = 64, Zen 5), in fp32 and bf16.
    nonisolated(unsafe) public static var queryBlock = 64
    /// Keys per tile (the leading dimension of the score tiles).
    nonisolated(unsafe) public static var block = 128

    /// Per-thread tiles, allocated once per call.
    struct Workspace {
        let scores: UnsafeMutablePointer<Float>  // (queryBlock, block) S, then P
        let weights: UnsafeMutablePointer<Float>  // (queryBlock, block) dropout(P), then dS
        let accumulator: UnsafeMutablePointer<Float>  // (queryBlock, HS) partial output; backward: dP
        let maxima: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>  // (queryBlock)
        let multipliers: UnsafeMutablePointer<Float>  // (block) dropout multipliers of one row
        let tileBF16: UnsafeMutablePointer<UInt16>?  // (queryBlock, block)
        let headBF16: UnsafeMutablePointer<UInt16>?  // (4, T, HS): Q, K, V, dO of one head

        init(rows: Int, keys: Int, headSize HS: Int, bf16: Bool) {
            let R = FlashAttention.queryBlock, K = FlashAttention.block
            scores = alignedAllocate(Float.self, count: R * K)
            weights = alignedAllocate(Float.self, count: R * K)
            accumulator = alignedAllocate(Float.self, count: R * max(HS, K))
            maxima = alignedAllocate(Float.self, count: R)
            sums = alignedAllocate(Float.self, count: max(R, rows))
            multipliers = alignedAllocate(Float.self, count: K)
            tileBF16 = bf16 ? alignedAllocate(UInt16.self, count: R * K) : nil
            headBF16 = bf16 ? alignedAllocate(UInt16.self, count: 2 * (rows + keys) * HS) : nil
        }

        func deallocate() {
            for buffer in [scores, weights, accumulator, maxima, sums, multipliers] { buffer.deallocate() }
            tileBF16?.deallocate()
            headBF16?.deallocate()
        }
    }

    /// One (sequence, head): where its operands are, in fp32 (strided views into the callers'
    /// buffers) and in bf16 (contiguous copies, rows of HS).
    struct Head {
        var query: UnsafePointer<Float>, queryStride: Int
        var key: UnsafePointer<Float>, keyStride: Int
        var value: UnsafePointer<Float>, valueStride: Int
        var outputGradient: UnsafePointer<Float>?, outputGradientStride = 0
        var queryBF16: UnsafeMutablePointer<UInt16>? = nil, keyBF16: UnsafeMutablePointer<UInt16>? = nil
        var valueBF16: UnsafeMutablePointer<UInt16>? = nil, outputGradientBF16: UnsafeMutablePointer<UInt16>? = nil
        var headSize: Int

        /// Converts the operands used in bf16 into `storage` (rows of HS, contiguous).
        mutating func convert(into storage: UnsafeMutablePointer<UInt16>, queries: Int, keys: Int) {
            let HS = headSize
            func copy(_ source: UnsafePointer<Float>, _ stride: Int, _ rows: Int, _ target: UnsafeMutablePointer<UInt16>) {
                for r in 0 ..< rows { BF16.convertRow(source + r * stride, to: target + r * HS, count: HS) }
            }
            queryBF16 = storage
            keyBF16 = storage + queries * HS
            valueBF16 = storage + (queries + keys) * HS
            copy(query, queryStride, queries, queryBF16!)
            copy(key, keyStride, keys, keyBF16!)
            copy(value, valueStride, keys, valueBF16!)
            if let outputGradient {
                outputGradientBF16 = storage + (queries + 2 * keys) * HS
                copy(outputGradient, outputGradientStride, queries, outputGradientBF16!)
            }
        }

        /// `scores = Q[rows]·K[keys]ᵀ` (rows × keys, leading dimension `block`).
        func scores(_ scores: UnsafeMutablePointer<Float>, rows: Range<Int>, keys: Range<Int>) {
            if let q = queryBF16, let k = keyBF16 {
                BF16.gemm(transposeA: false, transposeB: true, m: rows.count, n: keys.count, k: headSize,
                          a: q + rows.lowerBound * headSize, lda: headSize, b: k + keys.lowerBound * headSize, ldb: headSize,
                          c: scores, ldc: FlashAttention.block, accumulate: false)
            } else {
                BLAS.sgemm(transposeA: false, transposeB: true, m: rows.count, n: keys.count, k: headSize, alpha: 1,
                           a: query + rows.lowerBound * queryStride, lda: queryStride,
                           b: key + keys.lowerBound * keyStride, ldb: keyStride, beta: 0, c: scores, ldc: FlashAttention.block)
            }
        }

        /// `target (rows × HS) += weights (rows × keys) · rhs[keys]` with rhs V (`.value`) or, for
        /// dQ, K (`.key`); in bf16 the weights are converted into `tile` first.
        func multiplyAdd(_ target: UnsafeMutablePointer<Float>, targetStride: Int, weights: UnsafePointer<Float>,
                         rows: Int, keys: Range<Int>, by operand: Operand, tile: UnsafeMutablePointer<UInt16>?) {
            let (fp32, stride, bf16) = operand == .value ? (value, valueStride, valueBF16) : (key, keyStride, keyBF16)
            if let bf16, let tile {
                convertTile(weights, rows: rows, columns: keys.count, into: tile)
                BF16.gemm(transposeA: false, transposeB: false, m: rows, n: headSize, k: keys.count,
                          a: tile, lda: FlashAttention.block, b: bf16 + keys.lowerBound * headSize, ldb: headSize,
                          c: target, ldc: targetStride, accumulate: true)
            } else {
                BLAS.sgemm(transposeA: false, transposeB: false, m: rows, n: headSize, k: keys.count, alpha: 1,
                           a: weights, lda: FlashAttention.block, b: fp32 + keys.lowerBound * stride, ldb: stride,
                           beta: 1, c: target, ldc: targetStride)
            }
        }

        /// `target[keys] (keys × HS) += weightsᵀ (keys × rows) · rhs[rows]` with rhs dO
        /// (`.outputGradient`, for dV) or Q (`.query`, for dK). In bf16 `tile` already holds the
        /// weights (converted by the `multiplyAdd` or `project` just before).
        func transposedMultiplyAdd(_ target: UnsafeMutablePointer<Float>, targetStride: Int, weights: UnsafePointer<Float>,
                                   rows: Range<Int>, keys: Int, by operand: Operand, tile: UnsafeMutablePointer<UInt16>?) {
            let (fp32, stride, bf16) = operand == .query ? (query, queryStride, queryBF16)
                                                         : (outputGradient!, outputGradientStride, outputGradientBF16)
            if let bf16, let tile {
                BF16.gemm(transposeA: true, transposeB: false, m: keys, n: headSize, k: rows.count,
                          a: tile, lda: FlashAttention.block, b: bf16 + rows.lowerBound * headSize, ldb: headSize,
                          c: target, ldc: targetStride, accumulate: true)
            } else {
                BLAS.sgemm(transposeA: true, transposeB: false, m: keys, n: headSize, k: rows.count, alpha: 1,
                           a: weights, lda: FlashAttention.block, b: fp32 + rows.lowerBound * stride, ldb: stride,
                           beta: 1, c: target, ldc: targetStride)
            }
        }

        /// `gradient = dO[rows]·V[keys]ᵀ` (rows × keys, leading dimension `block`).
        func outputGradientTimesValues(_ gradient: UnsafeMutablePointer<Float>, rows: Range<Int>, keys: Range<Int>) {
            if let dO = outputGradientBF16, let v = valueBF16 {
                BF16.gemm(transposeA: false, transposeB: true, m: rows.count, n: keys.count, k: headSize,
                          a: dO + rows.lowerBound * headSize, lda: headSize, b: v + keys.lowerBound * headSize, ldb: headSize,
                          c: gradient, ldc: FlashAttention.block, accumulate: false)
            } else {
                BLAS.sgemm(transposeA: false, transposeB: true, m: rows.count, n: keys.count, k: headSize, alpha: 1,
                           a: outputGradient! + rows.lowerBound * outputGradientStride, lda: outputGradientStride,
                           b: value + keys.lowerBound * valueStride, ldb: valueStride, beta: 0, c: gradient,
                           ldc: FlashAttention.block)
            }
        }

        enum Operand { case query, key, value, outputGradient }
    }

    /// A tile's rows × columns (leading dimension `block`) in bf16, into `tile` (same layout).
    static func convertTile(_ source: UnsafePointer<Float>, rows: Int, columns: Int, into tile: UnsafeMutablePointer<UInt16>) {
        for r in 0 ..< rows {
            BF16.convertRow(source + r * block, to: tile + r * block, count: columns)
        }
    }

    /// How many keys of block `keys` query i of sequence b sees before the key mask: none for a
    /// padded query, those up to i in causal attention, else all.
    @inline(__always)
    static func visibleKeys(_ i: Int, _ b: Int, _ keys: Range<Int>, _ shape: Attention.Shape,
                            queryMask: UnsafePointer<UInt8>?) -> Int {
        if let queryMask, queryMask[b * shape.queryLength + i] == 0 { return 0 }
        return shape.causal ? min(keys.count, max(0, i - keys.lowerBound + 1)) : keys.count
    }

    /// The keys of the block starting at `c0` that query block `rows` computes scores for: the
    /// block, cut in causal attention after the block's last query (the keys after it are hidden
    /// from every row of the block, so their part of the tile is not computed).
    @inline(__always)
    static func visibleKeys(of c0: Int, _ rows: Range<Int>, _ shape: Attention.Shape) -> Range<Int> {
        c0 ..< min(shape.keyLength, c0 + block, shape.causal ? rows.upperBound : shape.keyLength)
    }

    /// The key blocks query block `rows` can see: all, or in causal attention those starting at or
    /// before its last row.
    @inline(__always)
    static func visibleKeyBlocks(_ rows: Range<Int>, _ shape: Attention.Shape) -> StrideTo<Int> {
        stride(from: 0, to: shape.causal ? rows.upperBound : shape.keyLength, by: block)
    }

    /// Fills `multipliers` with the dropout multipliers of scores (i, keys) of pair `task`.
    @inline(__always)
    static func dropoutRow(_ multipliers: UnsafeMutablePointer<Float>, task: Int, i: Int, keys: Range<Int>,
                           shape: Attention.Shape, _ dropout: Attention.ProbabilityDropout) {
        Dropout.fillMultipliers(multipliers, start: (task * shape.queryLength + i) * shape.keyLength + keys.lowerBound,
                                count: keys.count, probability: dropout.probability, stream: dropout.stream)
    }

    /// Computes the attention output and each query's log-sum-exp of its scaled scores (+∞ for a
    /// query that sees no key, whose output row is 0).
    /// - Complexity: 2 products of block × block × HS per visible tile, plus one exponential per score.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (B, Tq, C)
        logSumExp: UnsafeMutablePointer<Float>,  // (B, NH, Tq)
        query: UnsafePointer<Float>, queryStride: Int,  // rows (B, Tq)
        key: UnsafePointer<Float>, keyStride: Int,  // rows (B, Tk)
        value: UnsafePointer<Float>, valueStride: Int,  // rows (B, Tk)
        keyMask: UnsafePointer<UInt8>? = nil,  // (B, Tk)
        queryMask: UnsafePointer<UInt8>? = nil,  // (B, Tq)
        dropout: Attention.ProbabilityDropout? = nil,
        shape: Attention.Shape, precision: Precision = .fp32, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("attention forward (tiled)")
        defer { StepProfile.end(region) }
        let Tq = shape.queryLength, Tk = shape.keyLength, NH = shape.heads, HS = shape.headSize
        let C = shape.channels, scale = shape.scale
        let dropout = dropout.flatMap { $0.probability > 0 ? $0 : nil }
        parallelism.forEachPiece(count: shape.batch * NH) { _, tasks in
            let w = Workspace(rows: Tq, keys: Tk, headSize: HS, bf16: precision == .bf16)
            defer { w.deallocate() }
            for task in tasks {
                let b = task / NH, h = task % NH
                var head = Head(query: query + b * Tq * queryStride + h * HS, queryStride: queryStride,
                                key: key + b * Tk * keyStride + h * HS, keyStride: keyStride,
                                value: value + b * Tk * valueStride + h * HS, valueStride: valueStride, headSize: HS)
                if let storage = w.headBF16 { head.convert(into: storage, queries: Tq, keys: Tk) }
                let out = output + b * Tq * C + h * HS, L = logSumExp + task * Tq
                for r0 in stride(from: 0, to: Tq, by: queryBlock) {
                    let rows = r0 ..< min(Tq, r0 + queryBlock)
                    let acc = w.accumulator
                    acc.update(repeating: 0, count: rows.count * HS)
                    w.maxima.update(repeating: -.infinity, count: rows.count)
                    w.sums.update(repeating: 0, count: rows.count)
                    for c0 in visibleKeyBlocks(rows, shape) {
                        let keys = visibleKeys(of: c0, rows, shape)
                        head.scores(w.scores, rows: rows, keys: keys)
                        for i in rows {
                            let r = i - r0, s = w.scores + r * block, p = w.weights + r * block
                            let n = visibleKeys(i, b, keys, shape, queryMask: queryMask)
                            // Mask and scale the scores, the new running maximum, p = e^(s − maximum), Σ p.
                            let previous = w.maxima[r]
                            var maximum = previous
                            let sum = trainer_flash_forward_row(p, s, n, keys.count, scale, keyMask.map { $0 + b * Tk + c0 },
                                                                previous, &maximum)
                            guard maximum > -.infinity else { continue }
                            let correction = FastMath.exp(previous - maximum)
                            w.sums[r] = w.sums[r] * correction + sum
                            w.maxima[r] = maximum
                            if correction != 1 { for d in 0 ..< HS { acc[r * HS + d] *= correction } }
                            if let dropout {
                                dropoutRow(w.multipliers, task: task, i: i, keys: keys, shape: shape, dropout)
                                for j in 0 ..< keys.count { p[j] *= w.multipliers[j] }
                            }
                        }
                        head.multiplyAdd(acc, targetStride: HS, weights: w.weights, rows: rows.count, keys: keys,
                                         by: .value, tile: w.tileBF16)
                    }
                    for i in rows {
                        let r = i - r0, sum = w.sums[r], row = out + i * C
                        if sum > 0 {
                            let inverse = 1 / sum
                            for d in 0 ..< HS { row[d] = acc[r * HS + d] * inverse }
                            L[i] = w.maxima[r] + Foundation.log(sum)
                        } else {
                            row.update(repeating: 0, count: HS)
                            L[i] = .infinity
                        }
                    }
                }
            }
        }
    }

    /// Accumulates the gradients with respect to Q, K and V (`+=`) from the output gradient, the
    /// output and the log-sum-exps of `forward`. Gradient buffers have their inputs' layouts.
    /// - Complexity: 5 products of block × block × HS per visible tile, plus one exponential per score.
    public static func backward(
        queryGradient: UnsafeMutablePointer<Float>, queryGradientStride: Int,
        keyGradient: UnsafeMutablePointer<Float>, keyGradientStride: Int,
        valueGradient: UnsafeMutablePointer<Float>, valueGradientStride: Int,
        outputGradient: UnsafePointer<Float>,  // (B, Tq, C)
        output: UnsafePointer<Float>,  // (B, Tq, C)
        logSumExp: UnsafePointer<Float>,  // (B, NH, Tq)
        query: UnsafePointer<Float>, queryStride: Int,
        key: UnsafePointer<Float>, keyStride: Int,
        value: UnsafePointer<Float>, valueStride: Int,
        keyMask: UnsafePointer<UInt8>? = nil,
        queryMask: UnsafePointer<UInt8>? = nil,
        dropout: Attention.ProbabilityDropout? = nil,
        shape: Attention.Shape, precision: Precision = .fp32, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("attention backward (tiled)")
        defer { StepProfile.end(region) }
        let Tq = shape.queryLength, Tk = shape.keyLength, NH = shape.heads, HS = shape.headSize
        let C = shape.channels, scale = shape.scale
        let dropout = dropout.flatMap { $0.probability > 0 ? $0 : nil }
        parallelism.forEachPiece(count: shape.batch * NH) { _, tasks in
            let w = Workspace(rows: Tq, keys: Tk, headSize: HS, bf16: precision == .bf16)
            defer { w.deallocate() }
            for task in tasks {
                let b = task / NH, h = task % NH
                var head = Head(query: query + b * Tq * queryStride + h * HS, queryStride: queryStride,
                                key: key + b * Tk * keyStride + h * HS, keyStride: keyStride,
                                value: value + b * Tk * valueStride + h * HS, valueStride: valueStride,
                                outputGradient: outputGradient + b * Tq * C + h * HS, outputGradientStride: C, headSize: HS)
                if let storage = w.headBF16 { head.convert(into: storage, queries: Tq, keys: Tk) }
                let dq = queryGradient + b * Tq * queryGradientStride + h * HS
                let dk = keyGradient + b * Tk * keyGradientStride + h * HS
                let dv = valueGradient + b * Tk * valueGradientStride + h * HS
                let out = output + b * Tq * C + h * HS, dout = outputGradient + b * Tq * C + h * HS
                let L = logSumExp + task * Tq, D = w.sums
                // D = rowsum(dO ⊙ O): the Σ_j P·dP of the softmax's backward (dropout included).
                for i in 0 ..< Tq { D[i] = Reductions.dot(dout + i * C, out + i * C, HS) }
                for c0 in stride(from: 0, to: Tk, by: block) {
                    let firstRow = shape.causal ? c0 : 0
                    for r0 in stride(from: firstRow - firstRow % queryBlock, to: Tq, by: queryBlock) {
                        let rows = r0 ..< min(Tq, r0 + queryBlock)
                        let keys = visibleKeys(of: c0, rows, shape)
                        head.scores(w.scores, rows: rows, keys: keys)
                        // P = exp(scale·S − L), then W = dropout(P) for dV.
                        for i in rows {
                            let r = i - r0, s = w.scores + r * block, p = w.weights + r * block
                            let n = visibleKeys(i, b, keys, shape, queryMask: queryMask)
                            trainer_flash_probabilities_row(s, n, keys.count, scale, keyMask.map { $0 + b * Tk + c0 }, L[i])
                            if let dropout {
                                dropoutRow(w.multipliers, task: task, i: i, keys: keys, shape: shape, dropout)
                                for j in 0 ..< keys.count { p[j] = s[j] * w.multipliers[j] }
                            } else {
                                p.update(from: s, count: keys.count)
                            }
                        }
                        if let tile = w.tileBF16 { convertTile(w.weights, rows: rows.count, columns: keys.count, into: tile) }
                        head.transposedMultiplyAdd(dv + c0 * valueGradientStride, targetStride: valueGradientStride,
                                                   weights: w.weights, rows: rows, keys: keys.count, by: .outputGradient,
                                                   tile: w.tileBF16)
                        // dP = dropout'(dO·Vᵀ), dS = scale·P ⊙ (dP − D) (into `weights`).
                        let dP = w.accumulator
                        head.outputGradientTimesValues(dP, rows: rows, keys: keys)
                        for i in rows {
                            let r = i - r0, p = w.scores + r * block, g = dP + r * block, ds = w.weights + r * block
                            if let dropout {
                                dropoutRow(w.multipliers, task: task, i: i, keys: keys, shape: shape, dropout)
                                for j in 0 ..< keys.count { g[j] *= w.multipliers[j] }
                            }
                            trainer_flash_score_gradient_row(ds, p, g, D[i], scale, keys.count)
                        }
                        head.multiplyAdd(dq + r0 * queryGradientStride, targetStride: queryGradientStride,
                                         weights: w.weights, rows: rows.count, keys: keys, by: .key, tile: w.tileBF16)
                        head.transposedMultiplyAdd(dk + c0 * keyGradientStride, targetStride: keyGradientStride,
                                                   weights: w.weights, rows: rows, keys: keys.count, by: .query,
                                                   tile: w.tileBF16)
                    }
                }
            }
        }
    }

    /// Floating-point operations done by `forward` (two tile products per visible tile).
    public static func forwardFLOPs(_ shape: Attention.Shape) -> Double { 2 * tileFLOPs(shape) }
    /// Floating-point operations done by `backward` (five tile products per visible tile).
    public static func backwardFLOPs(_ shape: Attention.Shape) -> Double { 5 * tileFLOPs(shape) }

    /// One product over every visible tile: 2·rows·keys·HS each.
    static func tileFLOPs(_ shape: Attention.Shape) -> Double {
        var total = 0.0
        for r0 in stride(from: 0, to: shape.queryLength, by: queryBlock) {
            let rows = r0 ..< min(shape.queryLength, r0 + queryBlock)
            for c0 in visibleKeyBlocks(rows, shape) {
                total += 2 * Double(rows.count * visibleKeys(of: c0, rows, shape).count * shape.headSize)
            }
        }
        return total * Double(shape.batch * shape.heads)
    }
}
