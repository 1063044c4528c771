/// Which of a step's micro-batches each rank runs.
///
/// A step is `count` micro-batches whose contents depend only on (seed, step, index), and the step's
/// gradient is their exact sum (`GradientSum`), which does not depend on which rank added which
/// micro-batch. So the assignment is free, and is chosen for speed:
/// - micro-batches of equal cost (the GPT: every micro-batch is `micro_batch_size × block_size`
///   tokens) go to ranks in contiguous runs of `count / ranks`;
/// - micro-batches of different costs (the translator's come from length buckets, padded to their
///   own longest sentence) are dealt out by longest-processing-time-first: the costliest
///   micro-batch goes to the least loaded rank, then the next, so that every rank computes about
///   the same FLOPs and none waits long at the all-reduce (Graham's LPT rule: the slowest rank is
///   within 4/3 of the best possible balance).
///
/// Every rank computes the same schedule from the same costs (ties go to the lower index and the
/// lower rank), so no message is needed to agree on it.
public struct MicroBatchSchedule: Equatable, Sendable {
    /// Micro-batch indices of each rank, ascending.
    public let assignments: [[Int]]
    /// Each rank's total cost (the number of micro-batches for equal costs).
    public let loads: [Double]

    /// Contiguous runs: rank r runs `r·count/ranks ..< (r+1)·count/ranks`.
    public init(contiguous count: Int, ranks: Int) {
        precondition(count >= 0 && ranks > 0)
        assignments = (0 ..< ranks).map { r in Array((r * count / ranks) ..< ((r + 1) * count / ranks)) }
        loads = assignments.map { Double($0.count) }
    }

    /// Longest-processing-time-first over `costs` (one per micro-batch, index order).
    /// - Complexity: O(count · (log count + ranks)).
    public init(costs: [Double], ranks: Int) {
        precondition(ranks > 0 && costs.allSatisfy { $0.isFinite && $0 >= 0 })
        let order = costs.indices.sorted { costs[$0] != costs[$1] ? costs[$0] > costs[$1] : $0 < $1 }
        var assignments = [[Int]](repeating: [], count: ranks), loads = [Double](repeating: 0, count: ranks)
        for index in order {
            // The least loaded rank; among equals, the one with fewer micro-batches, then the lower rank.
            let rank = loads.indices.min { a, b in
                loads[a] != loads[b] ? loads[a] < loads[b] : (assignments[a].count, a) < (assignments[b].count, b)
            }!
            assignments[rank].append(index)
            loads[rank] += costs[index]
        }
        self.assignments = assignments.map { $0.sorted() }
        self.loads = loads
    }

    /// The slowest rank's load over the mean load: 1 is perfect balance, and a rank that waits
    /// spends `1 - load / largest` of the step waiting.
    public var imbalance: Double {
        let mean = loads.reduce(0, +) / Double(loads.count)
        return mean > 0 ? loads.max()! / mean : 1
    }
}
