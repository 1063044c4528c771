import Foundation
import XCTest
import TrainerKit

/// Deterministic test data: a small xorshift generator (tests only; the library uses Philox).
struct TestRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// Uniform in [-1, 1) scaled by `scale`.
    mutating func uniform(_ scale: Float = 1) -> Float {
        (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale
    }

    mutating func buffer(_ count: Int, scale: Float = 1) -> FloatBuffer {
        let b = FloatBuffer(count: count)
        for i in 0 ..< count { b[i] = uniform(scale) }
        return b
    }

    mutating func tokens(_ count: Int, below bound: Int) -> [Int32] {
        (0 ..< count).map { _ in Int32(next() % UInt64(bound)) }
    }
}

/// Largest |a − b| over two equally long buffers.
func maxDifference(_ a: FloatBuffer, _ b: FloatBuffer) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in 0 ..< a.count { m = max(m, abs(a[i] - b[i])) }
    return m
}

/// Asserts that two buffers agree within `tolerance` relative to the larger's scale, printing the
/// max difference.
func assertClose(
    _ a: FloatBuffer, _ b: FloatBuffer, tolerance: Float, _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(a.count, b.count, what, file: file, line: line)
    var scale: Float = 1e-6
    for i in 0 ..< b.count { scale = max(scale, abs(b[i])) }
    let difference = maxDifference(a, b)
    XCTAssertFalse(difference.isNaN, "\(what): NaN", file: file, line: line)
    XCTAssertLessThanOrEqual(difference, tolerance * max(1, scale), "\(what): max |Δ| = \(difference) (scale \(scale))",
                             file: file, line: line)
}

/// Asserts bit-identical contents.
func assertIdentical(_ a: FloatBuffer, _ b: FloatBuffer, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, what, file: file, line: line)
    let same = memcmp(a.pointer, b.pointer, a.count * MemoryLayout<Float>.size) == 0
    XCTAssertTrue(same, "\(what): not bit-identical (max |Δ| = \(maxDifference(a, b)))", file: file, line: line)
}

/// Σ output·weights in double precision: a scalar "loss" whose gradient with respect to the output
/// is exactly `weights`.
func weightedSum(_ output: FloatBuffer, _ weights: FloatBuffer) -> Double {
    var s = 0.0
    for i in 0 ..< output.count { s += Double(output[i]) * Double(weights[i]) }
    return s
}

/// Centred finite-difference gradient check (cs231n style).
///
/// For `samples` entries of `tensor` spread over it, compares `analytic[i]` with
/// `(loss(x + h) − loss(x − h)) / 2h`. Passes when the relative error of the sampled vectors,
/// ‖a − n‖ / max(‖a‖, ‖n‖), is under `tolerance`. The numeric vector must not be all zero (a check
/// on zeros cannot fail).
func checkGradient(
    _ name: String, tensor: FloatBuffer, analytic: FloatBuffer, samples: Int = 16, step h: Float = 1e-2,
    tolerance: Double = 1e-2, allowZero: Bool = false, loss: () -> Double,
    file: StaticString = #filePath, line: UInt = #line
) {
    precondition(tensor.count == analytic.count)
    let count = min(samples, tensor.count)
    var difference = 0.0, analyticNorm = 0.0, numericNorm = 0.0, worst = 0.0
    for s in 0 ..< count {
        let i = count == tensor.count ? s : (s * 7919 + 13) % tensor.count
        let saved = tensor[i]
        tensor[i] = saved + h
        let plus = loss()
        tensor[i] = saved - h
        let minus = loss()
        tensor[i] = saved
        let numeric = (plus - minus) / (Double(saved + h) - Double(saved - h))
        let a = Double(analytic[i])
        difference += (a - numeric) * (a - numeric)
        analyticNorm += a * a
        numericNorm += numeric * numeric
        worst = max(worst, abs(a - numeric))
    }
    let relative = difference.squareRoot() / max(analyticNorm.squareRoot(), numericNorm.squareRoot(), 1e-12)
    if !allowZero {
        XCTAssertGreaterThan(numericNorm, 1e-10, "\(name): numeric gradient is zero; the check could not fail",
                             file: file, line: line)
    }
    XCTAssertLessThan(relative, tolerance, "\(name): relative error \(relative), worst |Δ| \(worst)", file: file, line: line)
}

/// Path of a file in the test fixtures folder.
func fixturePath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

/// A new, empty folder under the system's temporary directory (the caller removes it).
func makeTemporaryDirectory(_ prefix: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes `text` to `directory/name` and returns the path.
func writeText(_ text: String, _ name: String, in directory: String) throws -> String {
    let path = directory + "/" + name
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A model's sizes for tests (`ModelConfig` with the derived sizes given).
func modelConfig(positions: Int, channels: Int, heads: Int, layers: Int, feedForward: Int, activation: Activation = .gelu,
                 dropout: Double = 0, tieEmbeddings: Bool = true, labelSmoothing: Double = 0) -> ModelConfig {
    var config = ModelConfig()
    config.positions = positions
    config.channels = channels
    config.heads = heads
    config.layers = layers
    config.feedForward = feedForward
    config.activation = activation
    config.dropout = dropout
    config.tieEmbeddings = tieEmbeddings
    config.labelSmoothing = labelSmoothing
    return config
}

/// Runs `kernels` once on each instruction set this CPU supports (`VectorInstructions`) and asserts
/// that every run returns the same buffers, bit for bit, as the widest. Skips when the CPU has only
/// one set: there is nothing to compare.
func assertSameOnEveryInstructionSet(
    _ what: String, file: StaticString = #filePath, line: UInt = #line, _ kernels: () -> [FloatBuffer]
) throws {
    let sets = VectorInstructions.supported
    guard let widest = sets.last, sets.count > 1 else { throw XCTSkip("\(what): this CPU runs one instruction set") }
    let reference = VectorInstructions.with(widest) { kernels() }
    XCTAssertTrue(reference.allSatisfy { $0.array().contains { $0 != 0 } }, "\(what): an output is all zero",
                  file: file, line: line)
    for instructions in sets.dropLast() {
        let result = VectorInstructions.with(instructions) { kernels() }
        XCTAssertEqual(result.count, reference.count, what, file: file, line: line)
        for (index, (a, b)) in zip(result, reference).enumerated() {
            assertIdentical(a, b, "\(what) output \(index): \(instructions) vs \(widest)", file: file, line: line)
        }
    }
}
