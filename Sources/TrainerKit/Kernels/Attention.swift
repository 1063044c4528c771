import Foundation

/// Scaled dot-product multi-head attention: `softmax(Q·Kᵀ/√HS + mask)·V`, for self-attention,
/// causal self-attention and cross-attention (queries from one sequence, keys/values from another).
///
/// Q, K and V are read in place from wider row-major buffers (for example the fused (B, T, 3C)
/// output of the query/key/value projections) through a row stride; head h uses columns
/// `h·HS ..< (h+1)·HS`. Masks: `keyMask[b, j] == 0` hides key j from every query of sequence b;
/// `queryMask[b, i] == 0` marks query i as padding, whose output row and gradients are zero (never
/// NaN). A query with no visible key also gets a zero row.
///
/// Optional dropout on the attention probabilities (nanoGPT's `attn_dropout`): the output uses
/// `dropout(P)·V`; the cached probabilities stay undropped, and the mask of score (b, h, i, j) is
/// element `((b·NH + h)·Tq + i)·Tk + j` of the dropout stream, regenerated in the backward pass.
public enum Attention {
    /// Dropout on the attention probabilities: probability and mask stream.
    public struct ProbabilityDropout: Sendable {
        public var probability: Float
        public var stream: RandomStream
        public init(probability: Float, stream: RandomStream) {
            self.probability = probability
            self.stream = stream
        }
    }

    /// Sizes of one attention call.
    public struct Shape: Sendable, Equatable {
        /// Sequences in the batch.
        public var batch: Int
        /// Query positions per sequence.
        public var queryLength: Int
        /// Key/value positions per sequence (equal to `queryLength` for self-attention).
        public var keyLength: Int
        /// Number of heads.
        public var heads: Int
        /// Channels per head.
        public var headSize: Int
        /// Whether query i sees only keys 0...i (needs `queryLength == keyLength`).
        public var causal: Bool

        public init(batch: Int, queryLength: Int, keyLength: Int, heads: Int, headSize: Int, causal: Bool) {
            precondition(!causal || queryLength == keyLength, "causal attention needs queryLength == keyLength")
            self.batch = batch
            self.queryLength = queryLength
            self.keyLength = keyLength
            self.heads = heads
            self.headSize = headSize
            self.causal = causal
        }

        /// Model width `heads · headSize`.
        public var channels: Int { heads * headSize }
        /// The score scale 1/√headSize.
        public var scale: Float { 1 / Float(headSize).squareRoot() }
    }

    /// Query rows per block. Causal attention works block by block so that a block of queries only
    /// multiplies against the keys it can see (about 5/8 of the full square at T = 256).
    nonisolated(unsafe) public static var queryBlock = 64

    /// The key range `0 ..< end` visible to the query block `rows`.
    @inline(__always)
    static func keyEnd(_ rows: Range<Int>, _ shape: Shape) -> Int {
        shape.causal ? rows.upperBound : shape.keyLength
    }

    /// Floating-point operations done by `forward`: all of Q·Kᵀ, and dropout(P)·V over the visible
    /// key blocks.
    public static func forwardFLOPs(_ shape: Shape) -> Double {
        let square = 2 * Double(shape.queryLength * shape.keyLength * shape.headSize)
        return (square + blockedFLOPs(shape)) * Double(shape.batch * shape.heads)
    }

    /// Floating-point operations done by `backward`: all of dO·Vᵀ, then dQ, dK and dV over the
    /// visible blocks.
    public static func backwardFLOPs(_ shape: Shape) -> Double {
        let square = 2 * Double(shape.queryLength * shape.keyLength * shape.headSize)
        return (square + 3 * blockedFLOPs(shape)) * Double(shape.batch * shape.heads)
    }

    /// The FLOPs of one (rows × visible keys × HS) product of one head, summed over query blocks.
    static func blockedFLOPs(_ shape: Shape) -> Double {
        var total = 0.0
        var r0 = 0
        while r0 < shape.queryLength {
            let rows = r0 ..< min(shape.queryLength, r0 + queryBlock)
            total += 2 * Double(rows.count) * Double(keyEnd(rows, shape)) * Double(shape.headSize)
            r0 = rows.upperBound
        }
        return total
    }

    /// The FLOPs attention needs at the least: causal attention's visible triangle only, 4 products
    /// forward... (Q·Kᵀ and P·V) and 8 backward... counted as 2·T·(T+1)/2·HS each.
    public static func minimumFLOPs(_ shape: Shape) -> Double {
        let visible = shape.causal ? Double(shape.queryLength * (shape.queryLength + 1) / 2)
                                   : Double(shape.queryLength * shape.keyLength)
        return 12 * visible * Double(shape.headSize) * Double(shape.batch * shape.heads)
    }

    /// Computes the attention output; caches the attention probabilities (zeros where masked) for
    /// the backward pass and for attention maps. Pieces are whole (sequence, head) pairs.
    /// The keys and values of sequence b start at row `b · keyRowsPerSequence` (default Tk): a
    /// key/value cache holds more rows per sequence than the Tk positions filled so far.
    /// - Complexity: `forwardFLOPs(shape)` in `sgemm`, plus one exponential per visible score.
    public static func forward(
        output: UnsafeMutablePointer<Float>,  // (B, Tq, C)
        probabilities: UnsafeMutablePointer<Float>,  // (B, NH, Tq, Tk)
        query: UnsafePointer<Float>, queryStride: Int,  // rows (B, Tq), `queryStride` floats apart
        key: UnsafePointer<Float>, keyStride: Int,  // rows (B, Tk)
        value: UnsafePointer<Float>, valueStride: Int,  // rows (B, Tk)
        keyMask: UnsafePointer<UInt8>? = nil,  // (B, Tk)
        queryMask: UnsafePointer<UInt8>? = nil,  // (B, Tq)
        dropout: ProbabilityDropout? = nil,
        shape: Shape, keyRowsPerSequence: Int? = nil, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("attention forward (materialised)")
        defer { StepProfile.end(region) }
        let Tq = shape.queryLength, Tk = shape.keyLength, NH = shape.heads, HS = shape.headSize
        let C = shape.channels, scale = shape.scale, keyRows = keyRowsPerSequence ?? Tk
        let dropout = dropout.flatMap { $0.probability > 0 ? $0 : nil }
        parallelism.forEachPiece(count: shape.batch * NH) { _, tasks in
            // Dropped probabilities of one block of query rows: (queryBlock, Tk)
            let dropped = dropout == nil ? nil : alignedAllocate(Float.self, count: min(queryBlock, Tq) * Tk)
            defer { dropped?.deallocate() }
            for task in tasks {
                let b = task / NH, h = task % NH
                let P = probabilities + task * Tq * Tk
                let q = query + b * Tq * queryStride + h * HS
                let k = key + b * keyRows * keyStride + h * HS
                let v = value + b * keyRows * valueStride + h * HS
                let out = output + b * Tq * C + h * HS
                // All scores in one product, the masked half included: with an inner dimension of
                // only HS, one big sgemm is faster than the causal blocks' smaller ones (measured).
                BLAS.sgemm(
                    transposeA: false, transposeB: true, m: Tq, n: Tk, k: HS,
                    alpha: scale, a: q, lda: queryStride, b: k, ldb: keyStride,
                    beta: 0, c: P, ldc: Tk)
                var r0 = 0
                while r0 < Tq {
                    let rows = r0 ..< min(Tq, r0 + queryBlock)
                    let kEnd = keyEnd(rows, shape)
                    for i in rows {
                        let visible = shape.causal ? i + 1 : Tk
                        let queryIsPadding = queryMask.map { $0[b * Tq + i] == 0 } ?? false
                        normalizeScores(
                            P + i * Tk, visible: queryIsPadding ? 0 : visible, total: Tk,
                            keyMask: keyMask.map { $0 + b * Tk })
                    }
                    var weights = UnsafePointer(P + r0 * Tk)
                    if let dropout, let dropped {
                        applyDropout(dropped, P + r0 * Tk, rows: rows, kEnd: kEnd, task: task, shape: shape, dropout)
                        weights = UnsafePointer(dropped)
                    }
                    BLAS.sgemm(
                        transposeA: false, transposeB: false, m: rows.count, n: HS, k: kEnd,
                        alpha: 1, a: weights, lda: Tk, b: v, ldb: valueStride,
                        beta: 0, c: out + r0 * C, ldc: C)
                    r0 = rows.upperBound
                }
            }
        }
    }

    /// `dropped[i − r0, j] = P[i, j] · mask(i, j) / (1 − p)` for the rows of one query block.
    @inline(__always)
    static func applyDropout(
        _ dropped: UnsafeMutablePointer<Float>, _ probabilities: UnsafePointer<Float>, rows: Range<Int>, kEnd: Int,
        task: Int, shape: Shape, _ dropout: ProbabilityDropout
    ) {
        let Tq = shape.queryLength, Tk = shape.keyLength
        for i in rows {
            let row = dropped + (i - rows.lowerBound) * Tk, p = probabilities + (i - rows.lowerBound) * Tk
            Dropout.fillMultipliers(row, start: (task * Tq + i) * Tk, count: kEnd, probability: dropout.probability,
                                    stream: dropout.stream)
            for j in 0 ..< kEnd { row[j] *= p[j] }
        }
    }

    /// Turns one row of scores into probabilities over the keys `0..<visible` not hidden by
    /// `keyMask`; everything else (up to `total`) becomes 0. A row with nothing visible is all 0.
    @inline(__always)
    static func normalizeScores(
        _ row: UnsafeMutablePointer<Float>, visible: Int, total: Int, keyMask: UnsafePointer<UInt8>?
    ) {
        if let keyMask {
            for j in 0 ..< visible { row[j] = keyMask[j] != 0 ? row[j] : -Float.infinity }
        }
        let maximum = Reductions.maximum(row, visible)
        guard maximum > -Float.infinity else {
            row.update(repeating: 0, count: total)
            return
        }
        // Branch-free loops so that they vectorise (masked scores are −∞, whose exp is exactly 0).
        for j in 0 ..< visible { row[j] = FastMath.exp(row[j] - maximum) }
        let inverse = 1 / Reductions.sum(row, visible)
        for j in 0 ..< visible { row[j] *= inverse }
        if visible < total { (row + visible).update(repeating: 0, count: total - visible) }
    }

    /// Accumulates the gradients with respect to Q, K and V (`+=`) from the output gradient and the
    /// cached probabilities. Gradient buffers have the same layout (and strides) as their inputs.
    /// - Complexity: `backwardFLOPs(shape)` in `sgemm`, plus 3 operations per score.
    public static func backward(
        queryGradient: UnsafeMutablePointer<Float>, queryGradientStride: Int,
        keyGradient: UnsafeMutablePointer<Float>, keyGradientStride: Int,
        valueGradient: UnsafeMutablePointer<Float>, valueGradientStride: Int,
        outputGradient: UnsafePointer<Float>,  // (B, Tq, C)
        probabilities: UnsafePointer<Float>,  // (B, NH, Tq, Tk)
        query: UnsafePointer<Float>, queryStride: Int,
        key: UnsafePointer<Float>, keyStride: Int,
        value: UnsafePointer<Float>, valueStride: Int,
        dropout: ProbabilityDropout? = nil,
        shape: Shape, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("attention backward (materialised)")
        defer { StepProfile.end(region) }
        let Tq = shape.queryLength, Tk = shape.keyLength, NH = shape.heads, HS = shape.headSize
        let C = shape.channels, scale = shape.scale
        let dropout = dropout.flatMap { $0.probability > 0 ? $0 : nil }
        parallelism.forEachPiece(count: shape.batch * NH) { _, tasks in
            // The whole head's score gradients (Tq, Tk); with dropout also its dropped
            // probabilities (Tq, Tk) and one row of mask multipliers (Tk).
            let dScores = alignedAllocate(Float.self, count: Tq * Tk)
            let dropped = dropout == nil ? nil : alignedAllocate(Float.self, count: Tq * Tk + Tk)
            defer {
                dScores.deallocate()
                dropped?.deallocate()
            }
            for task in tasks {
                let b = task / NH, h = task % NH
                let P = probabilities + task * Tq * Tk
                let q = query + b * Tq * queryStride + h * HS
                let k = key + b * Tk * keyStride + h * HS
                let v = value + b * Tk * valueStride + h * HS
                let dq = queryGradient + b * Tq * queryGradientStride + h * HS
                let dk = keyGradient + b * Tk * keyGradientStride + h * HS
                let dv = valueGradient + b * Tk * valueGradientStride + h * HS
                let dout = outputGradient + b * Tq * C + h * HS
                // 1) dP = dO·Vᵀ in one product (as in the forward pass); then per block of query
                //    rows, through the dropout and the softmax: dS = P ⊙ (dP − Σ_j P·dP), and
                //    dQ += scale·dS·K over the visible keys.
                BLAS.sgemm(
                    transposeA: false, transposeB: true, m: Tq, n: Tk, k: HS,
                    alpha: 1, a: dout, lda: C, b: v, ldb: valueStride,
                    beta: 0, c: dScores, ldc: Tk)
                var r0 = 0
                while r0 < Tq {
                    let rows = r0 ..< min(Tq, r0 + queryBlock)
                    let kEnd = keyEnd(rows, shape)
                    let ds = dScores + r0 * Tk
                    if let dropout, let dropped {
                        applyDropout(dropped + r0 * Tk, P + r0 * Tk, rows: rows, kEnd: kEnd, task: task, shape: shape, dropout)
                        let multipliers = dropped + Tq * Tk
                        for i in rows {
                            Dropout.fillMultipliers(multipliers, start: (task * Tq + i) * Tk, count: kEnd,
                                                    probability: dropout.probability, stream: dropout.stream)
                            let row = dScores + i * Tk
                            for j in 0 ..< kEnd { row[j] *= multipliers[j] }
                        }
                    }
                    for i in rows {
                        let p = P + i * Tk, row = dScores + i * Tk
                        let dot = Reductions.dot(p, row, kEnd)
                        for j in 0 ..< kEnd { row[j] = p[j] * (row[j] - dot) }
                    }
                    BLAS.sgemm(
                        transposeA: false, transposeB: false, m: rows.count, n: HS, k: kEnd,
                        alpha: scale, a: ds, lda: Tk, b: k, ldb: keyStride,
                        beta: 1, c: dq + r0 * queryGradientStride, ldc: queryGradientStride)
                    r0 = rows.upperBound
                }
                // 2) Per block of keys (aligned with the query blocks, so every entry read was
                //    written above): dV += dropout(P)ᵀ·dO and dK += scale·dSᵀ·Q over all the queries
                //    that see the block — a long inner dimension, where sgemm is efficient.
                let weights = dropped.map { UnsafePointer($0) } ?? UnsafePointer(P)
                var c0 = 0
                while c0 < Tk {
                    let keys = c0 ..< min(Tk, c0 + queryBlock)
                    let firstQuery = shape.causal ? c0 : 0
                    let queries = Tq - firstQuery
                    BLAS.sgemm(
                        transposeA: true, transposeB: false, m: keys.count, n: HS, k: queries,
                        alpha: 1, a: weights + firstQuery * Tk + c0, lda: Tk, b: dout + firstQuery * C, ldb: C,
                        beta: 1, c: dv + c0 * valueGradientStride, ldc: valueGradientStride)
                    BLAS.sgemm(
                        transposeA: true, transposeB: false, m: keys.count, n: HS, k: queries,
                        alpha: scale, a: dScores + firstQuery * Tk + c0, lda: Tk, b: q + firstQuery * queryStride,
                        ldb: queryStride, beta: 1, c: dk + c0 * keyGradientStride, ldc: keyGradientStride)
                    c0 = keys.upperBound
                }
            }
        }
    }

    /// Plain-loop reference for `forward`, in double precision (tests only).
    public static func forwardNaive(
        output: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>,
        query: UnsafePointer<Float>, queryStride: Int, key: UnsafePointer<Float>, keyStride: Int,
        value: UnsafePointer<Float>, valueStride: Int, keyMask: UnsafePointer<UInt8>? = nil,
        queryMask: UnsafePointer<UInt8>? = nil, dropout: ProbabilityDropout? = nil, shape: Shape
    ) {
        let Tq = shape.queryLength, Tk = shape.keyLength, NH = shape.heads, HS = shape.headSize
        let C = shape.channels
        for b in 0 ..< shape.batch {
            for h in 0 ..< NH {
                for i in 0 ..< Tq {
                    var scores = [Double](repeating: -.infinity, count: Tk)
                    let queryIsPadding = queryMask.map { $0[b * Tq + i] == 0 } ?? false
                    for j in 0 ..< Tk {
                        if queryIsPadding || (shape.causal && j > i) || (keyMask.map { $0[b * Tk + j] == 0 } ?? false) {
                            continue
                        }
                        var s = 0.0
                        for d in 0 ..< HS {
                            s += Double(query[(b * Tq + i) * queryStride + h * HS + d]) * Double(key[(b * Tk + j) * keyStride + h * HS + d])
                        }
                        scores[j] = s / Double(HS).squareRoot()
                    }
                    let maximum = scores.max() ?? -.infinity
                    var p = [Double](repeating: 0, count: Tk)
                    if maximum > -.infinity {
                        let sum = scores.reduce(0.0) { $0 + Foundation.exp($1 - maximum) }
                        for j in 0 ..< Tk { p[j] = Foundation.exp(scores[j] - maximum) / sum }
                    }
                    for j in 0 ..< Tk { probabilities[((b * NH + h) * Tq + i) * Tk + j] = Float(p[j]) }
                    var weights = p
                    if let dropout, dropout.probability > 0 {
                        for j in 0 ..< Tk {
                            let index = ((b * NH + h) * Tq + i) * Tk + j
                            let kept = Dropout.keeps(index, stream: dropout.stream, probability: dropout.probability)
                            weights[j] = kept ? Double(Float(p[j])) / Double(1 - dropout.probability) : 0
                        }
                    }
                    for d in 0 ..< HS {
                        var o = 0.0
                        for j in 0 ..< Tk { o += weights[j] * Double(value[(b * Tk + j) * valueStride + h * HS + d]) }
                        output[(b * Tq + i) * C + h * HS + d] = Float(o)
                    }
                }
            }
        }
    }

    /// Plain-loop reference for `backward`, in double precision, from the cached probabilities
    /// (tests only).
    public static func backwardNaive(
        queryGradient: UnsafeMutablePointer<Float>, queryGradientStride: Int,
        keyGradient: UnsafeMutablePointer<Float>, keyGradientStride: Int,
        valueGradient: UnsafeMutablePointer<Float>, valueGradientStride: Int,
        outputGradient: UnsafePointer<Float>, probabilities: UnsafePointer<Float>,
        query: UnsafePointer<Float>, queryStride: Int, key: UnsafePointer<Float>, keyStride: Int,
        value: UnsafePointer<Float>, valueStride: Int, dropout: ProbabilityDropout? = nil, shape: Shape
    ) {
        let Tq = shape.queryLength, Tk = shape.keyLength, NH = shape.heads, HS = shape.headSize
        let C = shape.channels, scale = 1 / Double(HS).squareRoot()
        for b in 0 ..< shape.batch {
            for h in 0 ..< NH {
                for i in 0 ..< Tq {
                    let p = { (j: Int) in Double(probabilities[((b * NH + h) * Tq + i) * Tk + j]) }
                    // d(dropped P)/dP: the dropout multiplier (1 without dropout).
                    let multiplier = { (j: Int) -> Double in
                        guard let dropout, dropout.probability > 0 else { return 1 }
                        let index = ((b * NH + h) * Tq + i) * Tk + j
                        return Dropout.keeps(index, stream: dropout.stream, probability: dropout.probability)
                            ? 1 / Double(1 - dropout.probability) : 0
                    }
                    let dout = { (d: Int) in Double(outputGradient[(b * Tq + i) * C + h * HS + d]) }
                    var dp = [Double](repeating: 0, count: Tk)
                    for j in 0 ..< Tk {
                        for d in 0 ..< HS {
                            dp[j] += dout(d) * Double(value[(b * Tk + j) * valueStride + h * HS + d]) * multiplier(j)
                            valueGradient[(b * Tk + j) * valueGradientStride + h * HS + d] += Float(p(j) * multiplier(j) * dout(d))
                        }
                    }
                    var dot = 0.0
                    for j in 0 ..< Tk { dot += p(j) * dp[j] }
                    for j in 0 ..< Tk {
                        let ds = p(j) * (dp[j] - dot) * scale
                        for d in 0 ..< HS {
                            queryGradient[(b * Tq + i) * queryGradientStride + h * HS + d] += Float(ds * Double(key[(b * Tk + j) * keyStride + h * HS + d]))
                            keyGradient[(b * Tk + j) * keyGradientStride + h * HS + d] += Float(ds * Double(query[(b * Tq + i) * queryStride + h * HS + d]))
                        }
                    }
                }
            }
        }
    }
}
