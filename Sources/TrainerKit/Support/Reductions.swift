/// Fixed-order reductions with eight independent partial results, so that they pipeline and
/// vectorise (a single accumulator is a serial chain of dependent adds). The order is fixed by the
/// code, not by scheduling: results are deterministic.
enum Reductions {
    /// Σ x[0..<count].
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
        var j = 0
        while j + 8 <= count {
            s0 += x[j]; s1 += x[j + 1]; s2 += x[j + 2]; s3 += x[j + 3]
            s4 += x[j + 4]; s5 += x[j + 5]; s6 += x[j + 6]; s7 += x[j + 7]
            j += 8
        }
        var tail: Float = 0
        while j < count {
            tail += x[j]
            j += 1
        }
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) + tail
    }

    /// max x[0..<count] (−∞ for none).
    @inline(__always)
    static func maximum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var m0 = -Float.infinity, m1 = m0, m2 = m0, m3 = m0, m4 = m0, m5 = m0, m6 = m0, m7 = m0
        var j = 0
        while j + 8 <= count {
            m0 = x[j] > m0 ? x[j] : m0; m1 = x[j + 1] > m1 ? x[j + 1] : m1
            m2 = x[j + 2] > m2 ? x[j + 2] : m2; m3 = x[j + 3] > m3 ? x[j + 3] : m3
            m4 = x[j + 4] > m4 ? x[j + 4] : m4; m5 = x[j + 5] > m5 ? x[j + 5] : m5
            m6 = x[j + 6] > m6 ? x[j + 6] : m6; m7 = x[j + 7] > m7 ? x[j + 7] : m7
            j += 8
        }
        while j < count {
            m0 = x[j] > m0 ? x[j] : m0
            j += 1
        }
        let a = m0 > m1 ? m0 : m1, b = m2 > m3 ? m2 : m3, c = m4 > m5 ? m4 : m5, d = m6 > m7 ? m6 : m7
        let e = a > b ? a : b, f = c > d ? c : d
        return e > f ? e : f
    }

    /// Σ x[j]·y[j].
    @inline(__always)
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
        var j = 0
        while j + 8 <= count {
            s0 += x[j] * y[j]; s1 += x[j + 1] * y[j + 1]; s2 += x[j + 2] * y[j + 2]; s3 += x[j + 3] * y[j + 3]
            s4 += x[j + 4] * y[j + 4]; s5 += x[j + 5] * y[j + 5]; s6 += x[j + 6] * y[j + 6]; s7 += x[j + 7] * y[j + 7]
            j += 8
        }
        var tail: Float = 0
        while j < count {
            tail += x[j] * y[j]
            j += 1
        }
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) + tail
    }

    /// Σ x[i]² in double precision over a long buffer: fixed chunks of 2^16 values (summed with
    /// eight accumulators each) computed in parallel, then added in chunk order, so the result is
    /// the same for any thread count.
    static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int, parallelism: Parallelism) -> Double {
        let chunk = 1 << 16, chunks = (count + chunk - 1) / chunk
        var partial = [Double](repeating: 0, count: chunks)
        partial.withUnsafeMutableBufferPointer { partial in
            let out = partial.baseAddress!
            parallelism.forEachPiece(count: chunks) { _, range in
                for c in range {
                    let start = c * chunk, end = min(count, start + chunk)
                    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0, s5 = 0.0, s6 = 0.0, s7 = 0.0
                    var i = start
                    while i + 8 <= end {
                        let a0 = Double(x[i]), a1 = Double(x[i + 1]), a2 = Double(x[i + 2]), a3 = Double(x[i + 3])
                        let a4 = Double(x[i + 4]), a5 = Double(x[i + 5]), a6 = Double(x[i + 6]), a7 = Double(x[i + 7])
                        s0 += a0 * a0; s1 += a1 * a1; s2 += a2 * a2; s3 += a3 * a3
                        s4 += a4 * a4; s5 += a5 * a5; s6 += a6 * a6; s7 += a7 * a7
                        i += 8
                    }
                    var tail = 0.0
                    while i < end {
                        tail += Double(x[i]) * Double(x[i])
                        i += 1
                    }
                    out[c] = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) + tail
                }
            }
        }
        return partial.reduce(0, +)
    }
}
