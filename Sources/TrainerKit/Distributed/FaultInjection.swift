import Foundation

/// A testing hook: `TRAINER_FAIL=<rank>:<step>` makes that rank throw at that step, and
/// `TRAINER_FAIL=<rank>:<step>:kill` makes it die (SIGKILL), so that tests can check that one
/// failing rank takes the whole job down with a message, never a hang.
public enum FaultInjection {
    static let plan: (rank: Int, step: Int, kill: Bool)? = {
        guard let text = ProcessInfo.processInfo.environment["TRAINER_FAIL"] else { return nil }
        let parts = text.split(separator: ":")
        guard parts.count >= 2, let rank = Int(parts[0]), let step = Int(parts[1]) else { return nil }
        return (rank, step, parts.count > 2 && parts[2] == "kill")
    }()

    /// The injected failure for this rank and step, if one is planned (or death, for `kill`).
    public static func failure(rank: Int, step: Int) -> TrainerError? {
        guard let plan, plan.rank == rank, plan.step == step else { return nil }
        if plan.kill { kill(getpid(), SIGKILL) }
        return TrainerError("injected failure at step \(step) (TRAINER_FAIL=\(rank):\(step))")
    }
}
