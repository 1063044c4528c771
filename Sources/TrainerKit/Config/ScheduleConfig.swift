/// The learning-rate schedule and the length of the run.
public struct ScheduleConfig: Codable, Sendable, Equatable {
    /// Steps of linear warm-up from 0 to `optimizer.lr`.
    public var warmup = 100
    /// Optimizer steps of the whole run.
    public var maxSteps = 2000
    /// Step at which the cosine decay reaches `min_lr` (constant after); 0 means `max_steps`.
    public var decaySteps = 0
    /// Learning rate at the end of the decay.
    public var minLR = 1e-4

    enum CodingKeys: String, CodingKey, CaseIterable {
        case warmup
        case maxSteps = "max_steps"
        case decaySteps = "decay_steps"
        case minLR = "min_lr"
    }

    /// The default schedule.
    public init() {}

    /// The step at which the cosine decay ends: `decay_steps`, or `max_steps` when that is 0.
    public var resolvedDecaySteps: Int { decaySteps == 0 ? maxSteps : decaySteps }
}
