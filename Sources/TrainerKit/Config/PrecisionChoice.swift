/// The config's `precision`: `fp32`, `bf16` (matrix products with bf16 inputs and fp32
/// accumulation; needs a CPU with native bf16 dot products, AVX512_BF16), or `auto` (bf16 where the
/// CPU has them, fp32 elsewhere).
public enum PrecisionChoice: String, Codable, Sendable, CaseIterable, ConfigChoice {
    case fp32, bf16, auto

    /// Decodes one of the cases, or throws an error that lists them.
    public init(from decoder: any Decoder) throws { self = try Self.decodeChoice(from: decoder) }

    /// The precision this CPU runs for this choice.
    /// - Throws: for `bf16` on a CPU without native bf16 products (oneDNN would fall back to a slow
    ///   emulation, or to nothing on AVX2 CPUs).
    public func resolved(nativeBF16: Bool = BF16.isNative) throws -> Precision {
        switch self {
        case .fp32: return .fp32
        case .auto: return nativeBF16 ? .bf16 : .fp32
        case .bf16:
            guard nativeBF16 else {
                throw TrainerError("config: precision bf16 needs a CPU with native bf16 dot products (avx512_bf16), which this CPU lacks; use precision: fp32 or auto")
            }
            return .bf16
        }
    }
}
