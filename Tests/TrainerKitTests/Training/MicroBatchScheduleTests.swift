import Foundation
import XCTest
import TrainerKit

/// Sharing a step's micro-batches between ranks: contiguous runs for equal costs, longest-first by
/// cost otherwise (the translator's length-bucketed micro-batches).
final class MicroBatchScheduleTests: XCTestCase {
    func testContiguousRunsAreTheOldShareOut() {
        let schedule = MicroBatchSchedule(contiguous: 8, ranks: 3)
        XCTAssertEqual(schedule.assignments, [[0, 1], [2, 3, 4], [5, 6, 7]])
        XCTAssertEqual(schedule.loads, [2, 3, 3])
        XCTAssertEqual(MicroBatchSchedule(contiguous: 4, ranks: 1).assignments, [[0, 1, 2, 3]])
    }

    func testLongestFirstByHand() {
        // 5 → r0; 4 → r1; 3 (index 2) → r1 (4 < 5); 3 (index 3) → r0 (5 < 7); 3 (index 4) → r1 (7 < 8).
        let schedule = MicroBatchSchedule(costs: [5, 4, 3, 3, 3], ranks: 2)
        XCTAssertEqual(schedule.assignments, [[0, 3], [1, 2, 4]])
        XCTAssertEqual(schedule.loads, [8, 10])
        XCTAssertEqual(schedule.imbalance, 10 / 9, accuracy: 1e-12)
        // Equal costs: the same number of micro-batches per rank.
        XCTAssertEqual(MicroBatchSchedule(costs: [1, 1, 1, 1, 1, 1], ranks: 3).assignments.map(\.count), [2, 2, 2])
        // A single expensive micro-batch gets a rank of its own.
        XCTAssertEqual(MicroBatchSchedule(costs: [1, 1, 9, 1, 1], ranks: 2).assignments, [[2], [0, 1, 3, 4]])
    }

    func testEveryMicroBatchOnceAndGrahamsBound() {
        var random = TestRandom(seed: 5)
        for trial in 0 ..< 200 {
            let count = 1 + Int(random.next() % 24), ranks = 1 + Int(random.next() % 6)
            let costs = (0 ..< count).map { _ in Double(1 + random.next() % 1000) }
            let schedule = MicroBatchSchedule(costs: costs, ranks: ranks)
            XCTAssertEqual(schedule.assignments.flatMap { $0 }.sorted(), Array(0 ..< count), "trial \(trial)")
            for (rank, indices) in schedule.assignments.enumerated() {
                XCTAssertEqual(indices, indices.sorted())
                XCTAssertEqual(schedule.loads[rank], indices.map { costs[$0] }.reduce(0, +))
            }
            // List scheduling: the slowest rank carries at most the mean load plus one micro-batch.
            let mean = costs.reduce(0, +) / Double(ranks)
            XCTAssertLessThanOrEqual(schedule.loads.max()!, mean + costs.max()!, "trial \(trial)")
            XCTAssertEqual(schedule, MicroBatchSchedule(costs: costs, ranks: ranks), "not deterministic")
        }
    }

    /// The translator's micro-batches differ in cost, and sharing them out by cost balances the
    /// ranks better than contiguous runs. It also shows that the 2-rank runs of the test-mpi
    /// translator config really move micro-batches between ranks, so that their bit-identity
    /// with one process covers the reassignment.
    func testTranslatorMicroBatchesAreSharedByCost() throws {
        let directory = try makeTemporaryDirectory("schedule")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tsv = directory + "/toy.tsv", path = directory + "/toy.h5"
        try ToyTranslation.corpus(count: 3000).joined(separator: "\n").write(toFile: tsv, atomically: true, encoding: .utf8)
        var options = ParallelPrepareOptions()
        options.maximumLength = 24
        _ = try ParallelPrepare.prepare(inputs: [tsv], output: path, options: options)
        let config = try ConfigLoader.load(path: nil, overrides: [
            "model.kind=seq2seq", "model.layers=1", "model.channels=32", "model.heads=4", "model.positions=24",
            "data.dataset=\(path)", "data.batch_size=16", "data.micro_batch_size=4", "data.block_size=24",
        ])
        let task = try Seq2SeqTask(config: config, dataset: ParallelDataset(path: path))
        var moved = 0, contiguousImbalance = 0.0, balancedImbalance = 0.0
        for step in 0 ..< 40 {
            let costs = try (0 ..< 4).map { try XCTUnwrap(task.microBatchCost(step: step, index: $0)) }
            let contiguous = MicroBatchSchedule(contiguous: 4, ranks: 2)
            let balanced = MicroBatchSchedule(costs: costs, ranks: 2)
            if balanced.assignments != contiguous.assignments { moved += 1 }
            let total = costs.reduce(0, +)
            contiguousImbalance += max(costs[0] + costs[1], costs[2] + costs[3]) / (total / 2)
            balancedImbalance += balanced.imbalance
            // The cost is the padded micro-batch's model FLOPs: at least those of its real tokens.
            _ = try task.trainMicroBatch(step: step, index: 0, parallelism: .serial)
            XCTAssertGreaterThanOrEqual(costs[0], task.lastMicroBatchFLOPs)
        }
        XCTAssertGreaterThan(moved, 0, "every step kept the contiguous share-out")
        XCTAssertLessThan(balancedImbalance, contiguousImbalance)
        print(String(format: "translator, 2 ranks, 40 steps: mean slowest/mean load %.3f contiguous, %.3f by cost; %d steps moved micro-batches",
                     contiguousImbalance / 40, balancedImbalance / 40, moved))
    }
}
