import XCTest
import TrainerKit

/// Smoke tests in a singleton MPI process (the test binary is not started by mpirun). The
/// multi-rank behaviour is tested by running the trainer under `mpirun` (see launch/test.sh).
final class CommunicatorTests: XCTestCase {
    func testSingletonWorldCollectives() throws {
        let world = Communicator.world
        XCTAssertEqual(world.rank, 0)
        XCTAssertEqual(world.size, 1)
        XCTAssertTrue(world.isRoot)
        var floats: [Float] = [1.5, -2, 3]
        try floats.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
        XCTAssertEqual(floats, [1.5, -2, 3])
        var integers: [Int64] = [Int64.max / 2, -5]
        try integers.withUnsafeMutableBufferPointer { buffer in
            let request = try world.startAllreduceSum(buffer)
            try request.wait()
        }
        XCTAssertEqual(integers, [Int64.max / 2, -5])
        XCTAssertEqual(try world.sum(2.5), 2.5)
        XCTAssertEqual(try world.sum(7), 7)
        XCTAssertEqual(try world.max(-1.0), -1.0)
        XCTAssertEqual(try world.broadcast("config: ü"), "config: ü")
        XCTAssertEqual(try world.allgather(42), [42])
        XCTAssertEqual(try world.localSize(), 1)
        try world.barrier()
    }
}
