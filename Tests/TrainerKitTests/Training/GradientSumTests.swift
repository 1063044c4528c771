import XCTest
import TrainerKit

final class GradientSumTests: XCTestCase {
    func makeStore() -> ParameterStore {
        var layout = ParameterLayout()
        layout.add("a", shape: [5, 7], role: .weight)
        layout.add("b", shape: [3], role: .bias)
        return layout.makeStore()
    }

    /// Micro-batch gradients with very different magnitudes per tensor.
    func microBatch(_ index: Int, _ store: ParameterStore) -> FloatBuffer {
        var random = TestRandom(seed: UInt64(100 + index))
        let g = FloatBuffer(count: store.count)
        for i in 0 ..< 35 { g[i] = random.uniform(1e-3) }
        for i in 35 ..< 38 { g[i] = random.uniform(50) }
        return g
    }

    /// The sum of 8 micro-batches is bit-identical whether one "rank" adds all of them or 2 or 4
    /// "ranks" each add a share and their integer sums are added (as MPI_SUM does).
    func testSumDoesNotDependOnHowMicroBatchesAreSplit() {
        let store = makeStore()
        let M = 8
        var results: [[Float]] = []
        for ranks in [1, 2, 4] {
            let sums = (0 ..< ranks).map { _ in GradientSum(entries: store.entries, microBatchesPerStep: M) }
            for sum in sums { sum.chooseExponents(from: [1e-3, 50]) }
            for rank in 0 ..< ranks {
                for index in (rank * M / ranks) ..< ((rank + 1) * M / ranks) {
                    sums[rank].add(microBatch(index, store), parallelism: Parallelism(threads: 2))
                }
            }
            for rank in 1 ..< ranks {
                for i in 0 ..< store.count { sums[0].sums[i] &+= sums[rank].sums[i] }
            }
            XCTAssertFalse(sums.contains { $0.overflowed })
            let out = FloatBuffer(count: store.count)
            sums[0].write(into: out, scale: 1.0 / 8, parallelism: .serial)
            results.append(out.array())
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
        // And it is the mean to float precision.
        for i in 0 ..< store.count {
            var exact = 0.0
            for index in 0 ..< M { exact += Double(microBatch(index, store)[i]) }
            exact /= 8
            XCTAssertEqual(Double(results[0][i]), exact, accuracy: abs(exact) * 1e-6 + 1e-12)
        }
    }

    func testOverflowAndNaNAreDetected() {
        let store = makeStore()
        let sum = GradientSum(entries: store.entries, microBatchesPerStep: 4)
        sum.chooseExponents(from: [1e-3, 1e-3])
        let g = microBatch(0, store)  // tensor b holds values up to 50: far beyond 256 × 1e-3
        sum.add(g, parallelism: .serial)
        XCTAssertTrue(sum.overflowed)
        XCTAssertEqual(Double(sum.maxima[1]), Double((35 ..< 38).map { abs(microBatch(0, store)[$0]) }.max()!))
        // With exponents from the observed maxima, the same data fits.
        sum.chooseExponents(from: sum.maxima)
        sum.clear(parallelism: .serial)
        sum.beginStep()
        sum.add(microBatch(0, store), parallelism: .serial)
        XCTAssertFalse(sum.overflowed)
        // A NaN gradient can never be represented: it is reported, not summed silently.
        let bad = microBatch(1, store)
        bad[3] = .nan
        sum.clear(parallelism: .serial)
        sum.beginStep()
        sum.add(bad, parallelism: .serial)
        XCTAssertTrue(sum.overflowed)
    }

    func testAddZeroesTheFloatGradients() {
        let store = makeStore()
        let sum = GradientSum(entries: store.entries, microBatchesPerStep: 1)
        sum.chooseExponents(from: [1, 100])
        let g = microBatch(2, store)
        sum.add(g, parallelism: .serial)
        XCTAssertTrue(g.array().allSatisfy { $0 == 0 })
    }
}
