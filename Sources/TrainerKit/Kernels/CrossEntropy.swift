import Foundation

/// Softmax cross-entropy over logits with label smoothing and an ignore index.
///
/// With smoothing ε over V classes the target distribution is `q = (1 − ε)·onehot(t) + ε/V`
/// (PyTorch's `label_smoothing`), and the loss of a row is `−Σ_j q_j log p_j`. Rows whose target
/// is `ignoreIndex` (padding) contribute nothing and are not counted. Beside the loss, `forward`
/// sums the plain cross-entropy `−log p_t` (the loss without smoothing), from which perplexity is
/// reported.
public enum CrossEntropy {
    /// What `forward` returns: the summed loss and how many rows it covers. The mean loss is
    /// `sum / count`; callers sum these over micro-batches and ranks before dividing.
    public struct Total: Sendable, Equatable {
        /// Σ of the per-row losses of the counted rows (label-smoothed when ε > 0).
        public var sum: Double
        /// Number of rows whose target was not `ignoreIndex`.
        public var count: Int
        /// Σ of the per-row plain cross-entropies `−log p_t` of the counted rows: `sum` without
        /// label smoothing (equal to `sum` when ε = 0).
        public var unsmoothedSum: Double

        /// A total; `unsmoothedSum` defaults to `sum` (no label smoothing).
        public init(sum: Double = 0, count: Int = 0, unsmoothedSum: Double? = nil) {
            self.sum = sum
            self.count = count
            self.unsmoothedSum = unsmoothedSum ?? sum
        }

        /// The mean loss (NaN for an empty total).
        public var mean: Double { sum / Double(count) }
        /// The mean plain cross-entropy; its exponential is the perplexity.
        public var unsmoothedMean: Double { unsmoothedSum / Double(count) }

        /// Both sums and the count added.
        public static func + (a: Total, b: Total) -> Total {
            Total(sum: a.sum + b.sum, count: a.count + b.count, unsmoothedSum: a.unsmoothedSum + b.unsmoothedSum)
        }
    }

    /// Writes each row's softmax into `probabilities` and its loss into `losses` (0 for ignored
    /// rows), and returns the total (with the unsmoothed sum, which is `sum` itself when ε = 0).
    /// - Complexity: N·V exponentials.
    public static func forward(
        losses: UnsafeMutablePointer<Float>,  // (N)
        probabilities: UnsafeMutablePointer<Float>,  // (N, V); may be `logits` (in place)
        logits: UnsafePointer<Float>,  // (N, V)
        targets: UnsafePointer<Int32>,  // (N)
        rows N: Int, classes V: Int, labelSmoothing ε: Float = 0, ignoreIndex: Int32 = -100,
        parallelism: Parallelism = .serial
    ) -> Total {
        let region = StepProfile.begin("cross-entropy forward")
        defer { StepProfile.end(region) }
        // −log p_t of each row, kept only when smoothing makes it differ from the loss.
        let plain = ε != 0 ? UnsafeMutablePointer<Float>.allocate(capacity: max(1, N)) : nil
        defer { plain?.deallocate() }
        parallelism.forEachPiece(count: N) { _, rows in
            for n in rows {
                let target = targets[n]
                let x = logits + n * V
                let ignored = target == ignoreIndex
                precondition(ignored || (target >= 0 && Int(target) < V), "CrossEntropy: target \(target) outside 0..<\(V)")
                // Read what the loss needs before the softmax overwrites the logits (in-place use).
                var sumOfLogits: Float = 0
                if ε != 0 { for j in 0 ..< V { sumOfLogits += x[j] } }
                let targetLogit = ignored ? 0 : x[Int(target)]
                let logPartition = Softmax.normalizeRow(output: probabilities + n * V, input: x, count: V)
                if ignored {
                    losses[n] = 0
                    continue
                }
                // −log p_t = logZ − x_t;  −Σ_j log p_j / V = logZ − mean(x)
                let nll = logPartition - targetLogit
                let smooth = logPartition - sumOfLogits / Float(V)
                losses[n] = (1 - ε) * nll + ε * smooth
                plain?[n] = nll
            }
        }
        var total = Total()
        for n in 0 ..< N where targets[n] != ignoreIndex {
            total.sum += Double(losses[n])
            total.unsmoothedSum += Double(plain?[n] ?? losses[n])
            total.count += 1
        }
        return total
    }

    /// `logitsGradient += scale · (p − q)` for every counted row, where `scale` is the gradient of
    /// the final loss with respect to each row's loss (for a mean over K rows: 1/K).
    /// - Complexity: N·V operations.
    public static func backward(
        logitsGradient: UnsafeMutablePointer<Float>,  // (N, V)
        probabilities: UnsafePointer<Float>,  // (N, V)
        targets: UnsafePointer<Int32>,  // (N)
        rows N: Int, classes V: Int, labelSmoothing ε: Float = 0, ignoreIndex: Int32 = -100,
        scale: Float, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("cross-entropy backward")
        defer { StepProfile.end(region) }
        let uniform = ε / Float(V)
        parallelism.forEachPiece(count: N) { _, rows in
            for n in rows where targets[n] != ignoreIndex {
                let p = probabilities + n * V, dx = logitsGradient + n * V
                for j in 0 ..< V { dx[j] += scale * (p[j] - uniform) }
                dx[Int(targets[n])] -= scale * (1 - ε)
            }
        }
    }

    /// Plain-loop reference for `forward` in double precision; writes per-row losses (tests only).
    /// The total's `unsmoothedSum` is Σ −log p_t.
    public static func forwardNaive(
        losses: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
        rows N: Int, classes V: Int, labelSmoothing ε: Float = 0, ignoreIndex: Int32 = -100
    ) -> Total {
        var total = Total()
        for n in 0 ..< N {
            guard targets[n] != ignoreIndex else {
                losses[n] = 0
                continue
            }
            var maximum = -Double.infinity
            for j in 0 ..< V { maximum = max(maximum, Double(logits[n * V + j])) }
            var sum = 0.0
            for j in 0 ..< V { sum += Foundation.exp(Double(logits[n * V + j]) - maximum) }
            var loss = 0.0
            for j in 0 ..< V {
                let logp = Double(logits[n * V + j]) - maximum - Foundation.log(sum)
                let q = Double(ε) / Double(V) + (j == Int(targets[n]) ? 1 - Double(ε) : 0)
                loss -= q * logp
                if j == Int(targets[n]) { total.unsmoothedSum -= logp }
            }
            losses[n] = Float(loss)
            total.sum += loss
            total.count += 1
        }
        return total
    }
}
