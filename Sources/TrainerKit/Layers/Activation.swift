/// The nonlinearity between a feed-forward network's two Linear layers (`model.activation`).
public enum Activation: String, Codable, Sendable, CaseIterable, ConfigChoice {
    case relu
    /// Exact, `x·Φ(x)` (PyTorch's `nn.GELU()`).
    case gelu
    /// GPT-2's tanh approximation.
    case geluTanh = "gelu_tanh"

    /// Decodes one of the cases, or throws an error that lists them.
    public init(from decoder: any Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}
