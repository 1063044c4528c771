import Foundation

/// Exact, order-independent summation of gradients over micro-batches and ranks.
///
/// Each tensor gets a power-of-two scale 2^e shared by every micro-batch of a step on every rank.
/// A micro-batch's float gradient g is added as the integer round(g·2^e) into an Int64 sum; the
/// sums of all ranks are added with MPI_SUM on integers. Integer addition is associative, so the
/// result does not depend on how micro-batches are spread over ranks or in which order they are
/// added: `trainer` and `mpirun -np 4 trainer` get the same bits.
///
/// The exponent of each tensor is chosen from the largest |g| of the previous step so that no
/// single value exceeds `limit = 2^63 / micro-batches / 256` (256× headroom, and the sum of all
/// micro-batches cannot overflow). That keeps about 48 bits below each tensor's largest value,
/// far more than float32's 24. A value beyond the limit is detected (never silent): the step is
/// recomputed with exponents from the observed maxima (`StepGradients` does that).
public final class GradientSum: @unchecked Sendable {
    let entries: [ParameterStore.Entry]
    /// Int64 sums, the parameters' layout.
    public let sums: UnsafeMutablePointer<Int64>
    public let count: Int
    /// Current exponent e of each tensor (scale 2^e); persisted in checkpoints for exact resume.
    public var exponents: [Int32]
    /// Largest |g| of each tensor over the micro-batches added since `reset` (this rank).
    public var maxima: [Float]
    /// Whether some value did not fit since `reset` (this rank).
    public var overflowed = false
    /// Micro-batches per step over all ranks (the sums must hold this many additions).
    let microBatches: Int

    /// Headroom over the previous step's maximum before a value counts as an overflow.
    static let headroomBits = 8

    public init(entries: [ParameterStore.Entry], microBatchesPerStep: Int) {
        self.entries = entries
        count = entries.last.map { $0.offset + $0.count } ?? 0
        sums = alignedAllocate(Int64.self, count: count)
        sums.initialize(repeating: 0, count: count)
        microBatches = microBatchesPerStep
        exponents = [Int32](repeating: 0, count: entries.count)
        maxima = [Float](repeating: 0, count: entries.count)
    }

    deinit { sums.deallocate() }

    /// The largest quantized magnitude one micro-batch may contribute.
    var limit: Double { Double(Int64.max / Int64(max(1, microBatches))) }

    /// Exponents such that `maxima[t]·2^e·2^headroom ≤ limit`; tensors whose maximum is 0 keep a
    /// generous exponent.
    public func chooseExponents(from maxima: [Float]) {
        for t in entries.indices {
            let largest = Double(maxima[t])
            guard largest > 0, largest.isFinite else {
                exponents[t] = 40
                continue
            }
            let e = floor(log2(limit) - log2(largest)) - Double(GradientSum.headroomBits)
            exponents[t] = Int32(max(-120, min(120, e)))
        }
    }

    /// Starts a step's statistics (largest magnitudes, overflow). The sums are zero between steps:
    /// `write` clears them as it reads them.
    public func beginStep() {
        maxima = [Float](repeating: 0, count: entries.count)
        overflowed = false
    }

    /// Zeroes the sums (to recompute a step whose sums overflowed).
    public func clear(parallelism: Parallelism) {
        parallelism.forEachPiece(count: count) { _, range in
            (sums + range.lowerBound).update(repeating: 0, count: range.count)
        }
    }

    /// Adds one micro-batch's float gradients into the integer sums, and zeroes `gradients` for the
    /// next micro-batch (in the same pass).
    public func add(_ gradients: FloatBuffer, parallelism: Parallelism) {
        add(gradients, entries: entries.indices, parallelism: parallelism)
    }

    /// `add` for the tensors `entries` only (indices into the parameter table). `clear: false`
    /// leaves the float gradients as they are (after a step's last micro-batch, whose gradients
    /// `write` overwrites anyway: one memory pass less).
    public func add(_ gradients: FloatBuffer, entries range: Range<Int>, clear: Bool = true, parallelism: Parallelism) {
        let region = StepProfile.begin("exact gradient sum (fixed point)")
        defer { StepProfile.end(region) }
        let limit = self.limit
        for t in range {
            let entry = entries[t]
            let scale = Double(sign: .plus, exponent: Int(exponents[t]), significand: 1)
            let g = gradients.pointer + entry.offset, s = sums + entry.offset
            var pieceMaxima = [Float](repeating: 0, count: parallelism.threads)
            pieceMaxima.withUnsafeMutableBufferPointer { maxima in
                let maxima = maxima.baseAddress!
                parallelism.forEachPiece(count: entry.count) { piece, range in
                    var largest: Float = 0
                    for i in range {
                        let value = g[i]
                        // NaN counts as infinitely large, so that it is reported as an overflow.
                        let magnitude = value.isNaN ? Float.infinity : FastMath.magnitude(value)
                        largest = magnitude > largest ? magnitude : largest
                        let scaled = (Double(value) * scale).rounded(.toNearestOrEven)
                        // Out-of-range values (and NaN) are clamped here and reported through `maxima`.
                        let clamped = scaled >= -limit && scaled <= limit ? scaled : (scaled > 0 ? limit : -limit)
                        s[i] &+= Int64(clamped)
                        if clear { g[i] = 0 }  // loop-invariant: the compiler unswitches it
                    }
                    maxima[piece] = largest
                }
            }
            let largest = pieceMaxima.max() ?? 0
            maxima[t] = max(maxima[t], largest)
            if !(Double(largest) * scale <= limit) { overflowed = true }  // also catches NaN and inf
        }
    }

    /// Writes `sums · 2^-e · scale` into `gradients` (the mean gradient when `scale` is 1/tokens),
    /// clearing the sums in the same pass for the next step.
    public func write(into gradients: FloatBuffer, scale: Double, parallelism: Parallelism) {
        let region = StepProfile.begin("gradient mean (fixed point → float)")
        defer { StepProfile.end(region) }
        for (t, entry) in entries.enumerated() {
            let factor = Double(sign: .plus, exponent: -Int(exponents[t]), significand: 1) * scale
            let g = gradients.pointer + entry.offset, s = sums + entry.offset
            parallelism.forEachPiece(count: entry.count) { _, range in
                for i in range {
                    g[i] = Float(Double(s[i]) * factor)
                    s[i] = 0
                }
            }
        }
    }
}
