import XCTest
import TrainerKit

/// The collectives, for any number of ranks: every rank contributes values that depend on its
/// rank, so each result is checked against a formula in W. `swift test` runs them in a singleton
/// process (W = 1); `launch/test-mpi.sh` runs this suite again under `mpirun -np 3`, where a wrong
/// result on any rank fails the job.
final class CommunicatorTests: XCTestCase {
    let world = Communicator.world
    var W: Int { world.size }
    var r: Int { world.rank }
    /// 1 + 2 + … + W: the sum of every rank's (rank + 1).
    var triangle: Int { W * (W + 1) / 2 }

    func testCollectives() throws {
        XCTAssertTrue((0 ..< W).contains(r))
        XCTAssertEqual(world.isRoot, r == 0)
        var floats: [Float] = [1.5, -2, 3].map { $0 * Float(r + 1) }
        try floats.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
        XCTAssertEqual(floats, [1.5, -2, 3].map { $0 * Float(triangle) })
        var doubles: [Double] = [Double(r), -1]
        try doubles.withUnsafeMutableBufferPointer { try world.allreduceMax($0) }
        XCTAssertEqual(doubles, [Double(W - 1), -1])
        var integers: [Int64] = [Int64.max / 8, -5].map { $0 / Int64(W) * Int64(r + 1) }
        try integers.withUnsafeMutableBufferPointer { buffer in
            let request = try world.startAllreduceSum(buffer)
            try request.wait()
        }
        XCTAssertEqual(integers, [Int64.max / 8, -5].map { $0 / Int64(W) * Int64(triangle) })
        XCTAssertEqual(try world.sum(2.5 * Double(r + 1)), 2.5 * Double(triangle))
        XCTAssertEqual(try world.sum(7 * (r + 1)), 7 * triangle)
        XCTAssertEqual(try world.max(-Double(r)), 0)
        XCTAssertEqual(try world.broadcast("config: ü from \(r)"), "config: ü from 0")
        XCTAssertEqual(try world.broadcast("from \(r)", root: W - 1), "from \(W - 1)")
        XCTAssertEqual(try world.allgather(UInt64(42 + r)), (0 ..< W).map { UInt64(42 + $0) })
        XCTAssertEqual(try world.localSize(), W, "all ranks of the test run on one machine")
        // Gather: each rank's bytes (of a different length per rank) in rank order, on rank 0 only.
        func bytes(_ rank: Int) -> [UInt8] { Array("rank \(rank): ü".utf8) + [UInt8](repeating: UInt8(rank), count: rank) }
        XCTAssertEqual(try world.gather(bytes(r)), r == 0 ? (0 ..< W).map(bytes) : [])
        // The clock offset to rank 0: the ranks share this machine's clock, so the true offset is 0,
        // which must lie within the measured bound.
        let clock = try ClockOffset.measure(communicator: world)
        XCTAssertLessThanOrEqual(clock.offset.magnitude, clock.error, "offset \(clock.offset) ns, bound \(clock.error) ns")
        if r == 0 { XCTAssertEqual(clock.offset, 0) }
        try world.barrier()
    }

    /// A buffer of many tensors reduced in several buckets, started out of order as tensors become
    /// ready (from the end, as a backward pass finishes them): the same sums as one reduction.
    func testBucketedAllreduceSumsEveryBucket() throws {
        let sizes = [300, 5, 700, 1, 450, 260, 90]
        var tensors: [Range<Int>] = [], offset = 0
        for size in sizes {
            tensors.append(offset ..< offset + size)
            offset += size
        }
        let values = UnsafeMutablePointer<Int64>.allocate(capacity: offset)
        defer { values.deallocate() }
        for i in 0 ..< offset { values[i] = Int64(i * 3 - 1000) * Int64(r + 1) }
        let allreduce = BucketedAllreduce(tensors: tensors, buffer: .int64(values), communicator: world, bucketElements: 500)
        XCTAssertGreaterThan(allreduce.bucketCount, 2)
        // With a trace window open, each bucket's all-reduce is recorded once, with its bytes.
        Timeline.start(capacity: 16)
        allreduce.begin()
        allreduce.tensorsReady(from: 5)
        allreduce.tensorsReady(from: 3)
        try allreduce.finish()
        let events = Timeline.stop()
        for i in 0 ..< offset { XCTAssertEqual(values[i], Int64(i * 3 - 1000) * Int64(triangle), "element \(i)") }
        XCTAssertEqual(events.map(\.index).sorted(), (0 ..< allreduce.bucketCount).map(Int32.init))
        XCTAssertEqual(events.map(\.bytes).reduce(0, +), Int64(offset * MemoryLayout<Int64>.size))
        XCTAssertTrue(events.allSatisfy { $0.span == .bucket && $0.start <= $0.end })
    }
}
