/// Residual connection `output = a + b`.
public enum Residual {
    /// `output = a + b` elementwise (`output` may alias either input).
    /// - Complexity: `count` adds; 12 bytes of traffic per element.
    public static func forward(
        output: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        count: Int, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("residual add")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: count) { _, range in
            for i in range { output[i] = a[i] + b[i] }
        }
    }

    /// `aGradient += outputGradient`, `bGradient += outputGradient`.
    public static func backward(
        aGradient: UnsafeMutablePointer<Float>, bGradient: UnsafeMutablePointer<Float>,
        outputGradient: UnsafePointer<Float>, count: Int, parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("residual backward")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: count) { _, range in
            for i in range {
                aGradient[i] += outputGradient[i]
                bGradient[i] += outputGradient[i]
            }
        }
    }

    /// `target += source` elementwise.
    public static func accumulate(
        into target: UnsafeMutablePointer<Float>, _ source: UnsafePointer<Float>, count: Int,
        parallelism: Parallelism = .serial
    ) {
        let region = StepProfile.begin("gradient accumulate")
        defer { StepProfile.end(region) }
        parallelism.forEachPiece(count: count) { _, range in
            for i in range { target[i] += source[i] }
        }
    }
}
