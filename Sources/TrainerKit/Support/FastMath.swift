import CKernels

/// Branch-free transcendental functions for the Swift kernels (attention's softmax), and `exp` over
/// a buffer with the C kernels' vector exponential.
///
/// libm's `tanhf` costs about 12 ns an element and does not vectorise, which would leave the
/// activation kernels far below memory speed. These are written with selects instead of branches so
/// that the compiler vectorises the loops that call them (about 1.5 ns/element on SSE2, 0.9 on AVX2),
/// using the classic Cephes range reduction and polynomials; error is a few ulp (tested against
/// Foundation's functions over wide ranges in `FastMathTests`).
public enum FastMath {
    /// e^x. Inputs below -87.3 give 0 (never denormals), above ln(FLT_MAX) give FLT_MAX-ish; -inf
    /// gives exactly 0, so masked attention scores vanish.
    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let log2e: Float = 1.442_695_04
        let ln2High: Float = 0.693_359_375, ln2Low: Float = -2.121_944_4e-4
        // Round x·log2(e) to the nearest integer n with the 1.5·2^23 trick (no SSE4.1 needed);
        // n then sits in the low mantissa bits of `shifted`.
        let magic: Float = 12_582_912
        var clamped = x < -88 ? -88 : x
        clamped = clamped > 88.722_83 ? 88.722_83 : clamped
        let shifted = clamped * log2e + magic
        let n = shifted - magic
        let r = clamped - n * ln2High - n * ln2Low
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * (r * r) + r + 1
        // 2^n in two factors so that n = 128 (x near 88.72) does not overflow the exponent field.
        let bits = Int32(bitPattern: shifted.bitPattern) &- Int32(bitPattern: magic.bitPattern)
        let half = bits &>> 1
        let scale1 = Float(bitPattern: UInt32(bitPattern: (half &+ 127) &<< 23))
        let scale2 = Float(bitPattern: UInt32(bitPattern: (bits &- half &+ 127) &<< 23))
        let result = p * scale1 * scale2
        return x < -87.3 ? 0 : result
    }

    /// |x| by clearing the sign bit.
    @inline(__always)
    public static func magnitude(_ x: Float) -> Float {
        Float(bitPattern: x.bitPattern & 0x7FFF_FFFF)
    }

    /// `magnitude` with the sign of `sign`.
    @inline(__always)
    static func withSign(_ magnitude: Float, of sign: Float) -> Float {
        Float(bitPattern: magnitude.bitPattern | (sign.bitPattern & 0x8000_0000))
    }

    /// tanh(x), from e^(-2|x|) so that it never overflows; Cephes' odd polynomial below |x| = 0.625.
    @inline(__always)
    public static func tanh(_ x: Float) -> Float {
        let ax = magnitude(x)
        let e = exp(-2 * ax)
        let large = (1 - e) / (1 + e)
        let x2 = x * x
        var small: Float = -5.704_988_727_45e-3
        small = small * x2 + 2.063_908_879_54e-2
        small = small * x2 - 5.373_971_555_31e-2
        small = small * x2 + 1.333_144_220_36e-1
        small = small * x2 - 3.333_328_194_22e-1
        small = small * x2 * ax + ax
        return withSign(ax < 0.625 ? small : large, of: x)
    }

    /// erf(x) = 1 − erfc(|x|) with the sign of x; erfc from Numerical Recipes' Chebyshev fit
    /// (fractional error below 1.2e-7 everywhere), so |error| ≤ 1.2e-7 plus rounding.
    @inline(__always)
    public static func erf(_ x: Float) -> Float {
        let z = magnitude(x)
        let t = 1 / (1 + 0.5 * z)
        var p: Float = 0.170_872_77
        p = p * t - 0.822_152_23
        p = p * t + 1.488_515_87
        p = p * t - 1.135_203_98
        p = p * t + 0.278_868_07
        p = p * t - 0.186_288_06
        p = p * t + 0.096_784_18
        p = p * t + 0.374_091_96
        p = p * t + 1.000_023_68
        p = p * t - 1.265_512_23
        let erfc = t * exp(-z * z + p)
        return withSign(1 - erfc, of: x)
    }

    /// e^x of `count` values with the exponential of the vectorised C kernels (softmax, GELU;
    /// Sources/CKernels/elementwise_body.h), on the instruction set in use: about 2 ulp, 0 below
    /// −87.3, e^0 = 1 exactly (in place allowed).
    public static func exp(_ output: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, count: Int) {
        trainer_exp(output, input, count)
    }
}
