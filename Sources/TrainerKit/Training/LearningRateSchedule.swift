import Foundation

/// The learning rate at each step: a pure function with numbered phases (nanoGPT's `get_lr`).
public struct LearningRateSchedule: Sendable, Equatable {
    public var peak: Double
    public var minimum: Double
    public var warmup: Int
    public var decaySteps: Int

    public init(peak: Double, minimum: Double, warmup: Int, decaySteps: Int) {
        self.peak = peak
        self.minimum = minimum
        self.warmup = warmup
        self.decaySteps = decaySteps
    }

    /// The learning rate of step `step` (0-based).
    public func rate(at step: Int) -> Double {
        // 1) linear warm-up over the first `warmup` steps
        if step < warmup { return peak * Double(step + 1) / Double(warmup + 1) }
        // 2) after the decay, the minimum
        if step > decaySteps { return minimum }
        // 3) in between, cosine decay from the peak down to the minimum
        let ratio = Double(step - warmup) / Double(max(1, decaySteps - warmup))
        let coefficient = 0.5 * (1 + cos(Double.pi * ratio))
        return minimum + coefficient * (peak - minimum)
    }
}
