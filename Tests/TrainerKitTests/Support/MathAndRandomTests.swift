import Foundation
import XCTest
import TrainerKit

final class FastMathTests: XCTestCase {
    func testAgainstFoundation() {
        var worstExp = 0.0, worstTanh = 0.0, worstErf = 0.0
        var x = -90.0
        while x < 89 {
            let f = Float(x)
            let e = Double(Foundation.exp(f))
            if e > 1e-37, e.isFinite { worstExp = max(worstExp, abs(Double(FastMath.exp(f)) - e) / e) }
            worstTanh = max(worstTanh, abs(Double(FastMath.tanh(f)) - Foundation.tanh(Double(f))))
            worstErf = max(worstErf, abs(Double(FastMath.erf(f)) - Foundation.erf(Double(f))))
            x += 0.001_37
        }
        XCTAssertLessThan(worstExp, 3e-7, "exp relative error")
        XCTAssertLessThan(worstTanh, 3e-7, "tanh absolute error")
        XCTAssertLessThan(worstErf, 3e-7, "erf absolute error")
        XCTAssertEqual(FastMath.exp(-.infinity), 0)
        XCTAssertEqual(FastMath.exp(0), 1)
        XCTAssertEqual(FastMath.tanh(0), 0)
        XCTAssertFalse(FastMath.exp(88.72).isInfinite)
    }
}

final class VectorExpTests: XCTestCase {
    /// The kernels' exponential over its whole range, on every instruction set.
    func testAgainstFoundation() throws {
        let n = 130_001
        let x = FloatBuffer(count: n), y = FloatBuffer(count: n)
        for i in 0 ..< n { x[i] = -90 + 178 * Float(i) / Float(n - 1) }
        FastMath.exp(y.pointer, x.readPointer, count: n)
        var worst = 0.0
        for i in 0 ..< n {
            let e = Foundation.exp(Double(x[i]))
            if x[i] < -87.3 { XCTAssertEqual(y[i], 0, "e^\(x[i])") } else { worst = max(worst, abs(Double(y[i]) - e) / e) }
        }
        XCTAssertLessThan(worst, 3e-7, "relative error")
        let special = FloatBuffer([0, -.infinity, .nan, 88, 1e30]), out = FloatBuffer(count: 5)
        FastMath.exp(out.pointer, special.readPointer, count: 5)
        XCTAssertEqual(out[0], 1)
        XCTAssertEqual(out[1], 0)
        XCTAssertTrue(out[2].isNaN)
        XCTAssertEqual(Double(out[3]), Foundation.exp(88.0), accuracy: 1e-6 * Foundation.exp(88.0))
        XCTAssertEqual(out[4], out[3], "clamped at e^88")
        try assertSameOnEveryInstructionSet("vector exp") {
            let y = FloatBuffer(count: n)
            FastMath.exp(y.pointer, x.readPointer, count: n)
            return [y]
        }
    }
}

final class PhiloxTests: XCTestCase {
    /// Known-answer vectors of Philox4x32-10 from Random123's kat_vectors.
    func testKnownAnswers() {
        let zero = Philox.block(0, 0, 0, 0, key: 0)
        XCTAssertEqual([zero.0, zero.1, zero.2, zero.3], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        let ones = Philox.block(0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff, key: 0xffff_ffff_ffff_ffff)
        XCTAssertEqual([ones.0, ones.1, ones.2, ones.3], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        let pi = Philox.block(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344, key: 0x299f_31d0_a409_3822)
        XCTAssertEqual([pi.0, pi.1, pi.2, pi.3], [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
    }

    func testStreamsAreIndependentAndUniform() {
        let a = RandomStream(seed: 11, 0, 0, 0), b = RandomStream(seed: 11, 0, 0, 1)
        XCTAssertNotEqual(a.word(0), b.word(0))
        XCTAssertEqual(a.word(5), RandomStream(seed: 11, 0, 0, 0).word(5))
        var sum = 0.0
        for i in 0 ..< 10_000 { sum += a.uniformDouble(i) }
        XCTAssertEqual(sum / 10_000, 0.5, accuracy: 0.015)  // 5 standard deviations
        var squares = 0.0
        for i in 0 ..< 10_000 { squares += a.normal(i) * a.normal(i) }
        XCTAssertEqual(squares / 10_000, 1, accuracy: 0.05)
    }
}

final class VectorInstructionsTests: XCTestCase {
    func testTheWidestSupportedSetIsInUseAndRestored() {
        let supported = VectorInstructions.supported
        XCTAssertEqual(supported.first, .portable, "portable C runs everywhere")
        XCTAssertEqual(VectorInstructions.inUse, supported.last)
        VectorInstructions.with(.portable) { XCTAssertEqual(VectorInstructions.inUse, .portable) }
        XCTAssertEqual(VectorInstructions.inUse, supported.last, "restored")
        #if arch(x86_64)
        // What the CPU reports must be what the kernels use (an AVX-512 machine must not fall back).
        let flags = CPU.flags
        if flags.contains("avx512f") { XCTAssertEqual(supported.last, .avx512) }
        else if flags.contains("avx2"), flags.contains("fma") { XCTAssertEqual(supported.last, .avx2) }
        #endif
    }
}
