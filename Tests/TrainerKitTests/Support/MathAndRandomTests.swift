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
