import Foundation

/// Before a model is allocated: what a config will need in memory, from its sizes alone (closed
/// forms in Double, so absurd sizes cannot overflow, loop or allocate), against what the machine
/// has. A config that cannot fit is refused with the estimate, the memory available and the key
/// to lower, instead of dying with "out of memory" (or taking minutes to build a billion layers).
public enum MemoryPreflight {
    /// Bytes per parameter while training: value, gradient, AdamW m and v (fp32), the exact Int64
    /// gradient sum, and a bf16 copy.
    static let bytesPerParameter = 4.0 * 4 + 8 + 2

    /// A config's needs, in bytes.
    public struct Estimate: Sendable {
        public var parameters: Double
        public var parameterBytes: Double
        public var activationBytes: Double
        public var total: Double { parameterBytes + activationBytes }

        /// The config key that most of the memory answers to.
        public var keyToLower: String {
            parameterBytes >= activationBytes ? "model.channels or model.layers"
                                              : "data.micro_batch_size or data.block_size (or model.channels)"
        }
    }

    /// The estimate for `config` with vocabularies `vocabulary` (target) and `sourceVocabulary`.
    public static func estimate(config: RunConfig, vocabulary: Int, sourceVocabulary: Int = 0) -> Estimate {
        let m = config.resolvedModel
        let C = Double(m.channels), F = Double(m.feedForward), L = Double(m.layers), T = Double(m.positions)
        let V = Double(vocabulary), B = Double(config.data.microBatchSize), time = Double(config.data.blockSize)
        let attention = 4 * C * C + 4 * C, feedForward = 2 * C * F + F + C, norms = 4 * C
        var parameters: Double
        var activations: Double  // floats kept for the backward pass, plus the logits and their gradient
        switch m.kind {
        case .gpt:
            parameters = V * C + T * C + L * (attention + feedForward + norms) + 2 * C + (m.tieEmbeddings ? 0 : V * C)
            activations = L * B * time * (14 * C + 3 * F) + 2 * B * time * V
        case .seq2seq:
            let S = Double(sourceVocabulary)
            parameters = (S + V) * C + L * (attention + feedForward + norms) + L * (2 * attention + feedForward + 6 * C)
                + 4 * C + (m.tieEmbeddings ? 0 : V * C)
            activations = 2 * L * B * T * (20 * C + 3 * F) + 2 * B * T * V
        }
        // Per-step bookkeeping: four Double slots per micro-batch.
        activations += 4 * Double(config.data.microBatchesPerStep) * 2
        return Estimate(parameters: parameters, parameterBytes: parameters * bytesPerParameter,
                        activationBytes: activations * 4)
    }

    /// Bytes this process can still use, and where the figure comes from: /proc/meminfo's
    /// MemAvailable, or the cgroup's limit less its usage when that is lower; nil where neither
    /// can be read (macOS, a sandbox).
    public static func available() -> (bytes: Double, source: String)? {
        var best: (Double, String)?
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") {
            best = (kilobytes * 1024, "MemAvailable")
        }
        let cgroups = [("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                       ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")]
        for (limitPath, usagePath) in cgroups {
            guard let limitText = try? String(contentsOfFile: limitPath, encoding: .utf8),
                  let limit = Double(limitText.trimmingCharacters(in: .whitespacesAndNewlines)), limit < 1e18 else { continue }
            let usage = (try? String(contentsOfFile: usagePath, encoding: .utf8)).flatMap {
                Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
            } ?? 0
            if best == nil || limit - usage < best!.0 { best = (limit - usage, "the cgroup's memory limit less its usage") }
        }
        return best
    }

    /// Throws when `estimate` does not fit in this rank's share of the available memory (the
    /// memory divided by the ranks on this machine).
    public static func check(_ estimate: Estimate, ranksOnMachine: Int = 1) throws {
        guard let (bytes, source) = available() else { return }
        let share = bytes / Double(max(1, ranksOnMachine))
        guard estimate.total > share else { return }
        let perRank = ranksOnMachine > 1 ? " per rank (\(ranksOnMachine) ranks on this machine)" : ""
        throw TrainerError(String(format: "config: training needs about %@ (%@ parameters with gradients and optimizer state: %@; activations: %@), more than the %@ available%@ (%@); lower %@",
                                  gib(estimate.total), count(estimate.parameters), gib(estimate.parameterBytes),
                                  gib(estimate.activationBytes), gib(share), perRank, source, estimate.keyToLower))
    }

    static func gib(_ bytes: Double) -> String {
        bytes >= 1e15 ? String(format: "%.2g GiB", bytes / 1_073_741_824) : String(format: "%.1f GiB", bytes / 1_073_741_824)
    }

    static func count(_ value: Double) -> String {
        value >= 1e9 ? String(format: "%.3g billion", value / 1e9) : String(format: "%.1f million", value / 1e6)
    }
}
