import Foundation

/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
/// counter-based generator. The output for a (key, counter) pair is a pure function of them, so a
/// random number depends only on *what* it is for, never on which process or thread draws it or
/// how many were drawn before.
public enum Philox {
    /// Four 32-bit random words for a 128-bit counter under a 64-bit key.
    @inline(__always)
    public static func block(
        _ c0: UInt32, _ c1: UInt32, _ c2: UInt32, _ c3: UInt32, key: UInt64
    ) -> (UInt32, UInt32, UInt32, UInt32) {
        var x0 = c0, x1 = c1, x2 = c2, x3 = c3
        var k0 = UInt32(truncatingIfNeeded: key), k1 = UInt32(truncatingIfNeeded: key >> 32)
        for _ in 0 ..< 10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(x0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(x2)
            let y0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ x1 ^ k0
            let y1 = UInt32(truncatingIfNeeded: p1)
            let y2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ x3 ^ k1
            let y3 = UInt32(truncatingIfNeeded: p0)
            x0 = y0; x1 = y1; x2 = y2; x3 = y3
            k0 = k0 &+ 0x9E37_79B9
            k1 = k1 &+ 0xBB67_AE85
        }
        return (x0, x1, x2, x3)
    }

    /// A uniform float in [0, 1) from 24 random bits.
    @inline(__always)
    public static func unitFloat(_ bits: UInt32) -> Float {
        Float(bits >> 8) * (1.0 / 16_777_216.0)
    }

    /// A uniform double in [0, 1) from 53 random bits.
    @inline(__always)
    public static func unitDouble(_ high: UInt32, _ low: UInt32) -> Double {
        let bits = (UInt64(high) << 21) ^ (UInt64(low) >> 11)
        return Double(bits & ((1 << 53) - 1)) * (1.0 / 9_007_199_254_740_992.0)
    }
}

/// A named stream of Philox numbers: (key, stream id) picks the stream, `index` the position in it.
/// Used for dropout masks (stream = step, micro-batch, site) and for batch sampling.
public struct RandomStream: Sendable, Equatable {
    /// The generator key, normally the run's seed.
    public let key: UInt64
    /// Three words naming the stream (for dropout: site, micro-batch, step).
    public let stream: (UInt32, UInt32, UInt32)

    /// A stream under `seed` named by three words.
    public init(seed: UInt64, _ a: UInt32, _ b: UInt32, _ c: UInt32) {
        self.key = seed
        self.stream = (a, b, c)
    }

    public static func == (lhs: RandomStream, rhs: RandomStream) -> Bool {
        lhs.key == rhs.key && lhs.stream == rhs.stream
    }

    /// The four words at block `index` of the stream (values `4·index ..< 4·index + 4`).
    @inline(__always)
    public func block(_ index: UInt32) -> (UInt32, UInt32, UInt32, UInt32) {
        Philox.block(index, stream.0, stream.1, stream.2, key: key)
    }

    /// The `index`-th 32-bit word of the stream.
    @inline(__always)
    public func word(_ index: Int) -> UInt32 {
        let b = block(UInt32(truncatingIfNeeded: index >> 2))
        switch index & 3 {
        case 0: return b.0
        case 1: return b.1
        case 2: return b.2
        default: return b.3
        }
    }

    /// A uniform double in [0, 1) at position `index` (uses two words of block `index`).
    @inline(__always)
    public func uniformDouble(_ index: Int) -> Double {
        let b = block(UInt32(truncatingIfNeeded: index))
        return Philox.unitDouble(b.0, b.1)
    }

    /// A standard normal at position `index` (Box–Muller on one block).
    public func normal(_ index: Int) -> Double {
        let b = block(UInt32(truncatingIfNeeded: index))
        let u1 = 1.0 - Philox.unitDouble(b.0, b.1)  // (0, 1]
        let u2 = Philox.unitDouble(b.2, b.3)
        return (-2.0 * Foundation.log(u1)).squareRoot() * Foundation.cos(2.0 * Double.pi * u2)
    }

    /// A uniform integer in `0..<bound` at position `index` (bound ≤ 2^32; bias < 2^-20 for
    /// bounds under 2^12, negligible for sampling).
    @inline(__always)
    public func integer(_ index: Int, below bound: Int) -> Int {
        Int(uniformDouble(index) * Double(bound))
    }
}
