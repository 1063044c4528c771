import Foundation

/// ReLU `y = max(x, 0)`.
public enum ReLU {
    /// `output = max(input, 0)` (in place allowed).
    /// - Complexity: `count` compares; 8 bytes of traffic per element.
    public static func forward(
        output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int,
        parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("ReLU forward")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: count) { _, range in
            for i in range { output[i] = input[i] > 0 ? input[i] : 0 }
        }
    }

    /// `inputGradient += input > 0 ? outputGradient : 0`.
    public static func backward(
        inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
        input: UnsafePointer<Float>, count: Int, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("ReLU backward")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: count) { _, range in
            // Both loads unconditional: a branch on the sign would mispredict half the time.
            for i in range {
                let dy = outputGradient[i]
                inputGradient[i] += input[i] > 0 ? dy : 0
            }
        }
    }
}
