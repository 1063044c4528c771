import Foundation
import XCTest
import TrainerKit

/// The per-kernel profile of `trainer bench step --profile`.
final class StepProfileTests: XCTestCase {
    override func tearDown() { _ = StepProfile.finish() }

    func testOutermostRegionsRecordAndOffRecordsNothing() {
        let x = FloatBuffer(count: 4096), y = FloatBuffer(count: 4096)
        // Off: nothing is kept.
        GELU.forward(output: y.pointer, input: x.readPointer, count: x.count)
        StepProfile.reset()
        _ = StepProfile.finish()
        StepProfile.reset()
        for _ in 0 ..< 3 { GELU.forward(output: y.pointer, input: x.readPointer, count: x.count) }
        // A region inside another is charged to the outer one.
        let outer = StepProfile.begin("outer")
        Residual.forward(output: y.pointer, x.readPointer, y.readPointer, count: x.count)
        StepProfile.end(outer)
        let entries = StepProfile.finish()
        XCTAssertEqual(entries.map(\.name).sorted(), ["GELU forward", "outer"])
        XCTAssertEqual(entries.first { $0.name == "GELU forward" }?.calls, 3)
        XCTAssertEqual(entries.first { $0.name == "outer" }?.calls, 1)
        XCTAssertTrue(entries.allSatisfy { $0.seconds > 0 })
        // After finish, regions record nothing.
        XCTAssertEqual(StepProfile.begin("late"), -1)
    }

    func testBenchStepProfileCoversTheStep() throws {
        var config = try ConfigLoader.load(path: nil, overrides: [
            "model.layers=1", "model.heads=2", "model.channels=32", "data.batch_size=4", "data.micro_batch_size=2",
            "data.block_size=32",
        ])
        config.threads = 1
        let result = try StepBench.run(config: config, threads: 1, steps: 2, profile: true, log: { _ in })
        let names = Set(result.profile.map(\.name))
        for kernel in ["linear forward (fp32 sgemm)", "linear backward (fp32 sgemm)", "attention forward (tiled)",
                       "layer norm forward", "AdamW update", "exact gradient sum (fixed point)"] {
            XCTAssertTrue(names.contains(kernel), "\(kernel) missing from the profile: \(names.sorted())")
        }
        let timed = result.profile.reduce(0) { $0 + $1.seconds }
        XCTAssertGreaterThan(timed, 0)
        XCTAssertLessThanOrEqual(timed, result.profiledStepSeconds)
        XCTAssertEqual(result.profile.first { $0.name == "AdamW update" }?.calls, 1)
    }
}
