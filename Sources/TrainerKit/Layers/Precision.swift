/// The number format of a pass's matrix products: fp32, or bf16 inputs with fp32 accumulation
/// (PyTorch autocast's split: everything else — master weights, optimizer, gradient sums, norms,
/// softmax, loss — stays fp32). Set from the config's `precision` (`PrecisionChoice`).
public enum Precision: String, Sendable, Equatable {
    case fp32, bf16
}
