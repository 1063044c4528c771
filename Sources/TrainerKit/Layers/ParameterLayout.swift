/// Collects parameter declarations in order, then builds the `ParameterStore`.
public struct ParameterLayout {
    private(set) var entries: [ParameterStore.Entry] = []
    private var next = 0

    public init() {}

    /// Declares a tensor at the next offset.
    public mutating func add(_ name: String, shape: [Int], decays: Bool) {
        precondition(!entries.contains { $0.name == name }, "parameter \(name) declared twice")
        let entry = ParameterStore.Entry(name: name, shape: shape, offset: next, decays: decays)
        entries.append(entry)
        next += entry.count
    }

    /// Declares a Linear layer's weight `[out, in]` (decayed) and optional bias `[out]`.
    public mutating func addLinear(_ name: String, inputs: Int, outputs: Int, bias: Bool = true) {
        add(name + "/weight", shape: [outputs, inputs], decays: true)
        if bias { add(name + "/bias", shape: [outputs], decays: false) }
    }

    /// Declares several Linear layers of the same input width whose weights are adjacent (one
    /// `[Σ out, in]` matrix, for a fused product) and whose biases are adjacent too.
    public mutating func addFusedLinears(_ names: [String], inputs: Int, outputs: Int, bias: Bool = true) {
        for name in names { add(name + "/weight", shape: [outputs, inputs], decays: true) }
        if bias { for name in names { add(name + "/bias", shape: [outputs], decays: false) } }
    }

    /// Declares a layer norm's weight and bias `[channels]`.
    public mutating func addLayerNorm(_ name: String, channels: Int) {
        add(name + "/weight", shape: [channels], decays: false)
        add(name + "/bias", shape: [channels], decays: false)
    }

    /// The store, zero-filled (initialisation is the model's job).
    public func makeStore() -> ParameterStore {
        ParameterStore(entries: entries)
    }
}
