/// Collects parameter declarations in order, then builds the `ParameterStore`.
public struct ParameterLayout {
    private(set) var entries: [ParameterStore.Entry] = []
    private var next = 0

    public init() {}

    /// Declares a tensor at the next offset.
    public mutating func add(_ name: String, shape: [Int], role: ParameterRole) {
        precondition(!entries.contains { $0.name == name }, "parameter \(name) declared twice")
        let entry = ParameterStore.Entry(name: name, shape: shape, offset: next, role: role)
        entries.append(entry)
        next += entry.count
    }

    /// Declares a Linear layer's weight `[out, in]` (`role`: `.weight` or `.residualWeight`) and
    /// optional bias `[out]`.
    public mutating func addLinear(_ name: String, inputs: Int, outputs: Int, bias: Bool = true,
                                   role: ParameterRole = .weight) {
        add(name + "/weight", shape: [outputs, inputs], role: role)
        if bias { add(name + "/bias", shape: [outputs], role: .bias) }
    }

    /// Declares several Linear layers of the same input width whose weights are adjacent (one
    /// `[Σ out, in]` matrix, for a fused product) and whose biases are adjacent too.
    public mutating func addFusedLinears(_ names: [String], inputs: Int, outputs: Int, bias: Bool = true) {
        for name in names { add(name + "/weight", shape: [outputs, inputs], role: .weight) }
        if bias { for name in names { add(name + "/bias", shape: [outputs], role: .bias) } }
    }

    /// Declares a layer norm's weight and bias `[channels]`.
    public mutating func addLayerNorm(_ name: String, channels: Int) {
        add(name + "/weight", shape: [channels], role: .normWeight)
        add(name + "/bias", shape: [channels], role: .normBias)
    }

    /// Declares an embedding table `[rows, channels]`.
    public mutating func addEmbedding(_ name: String, rows: Int, channels: Int) {
        add(name, shape: [rows, channels], role: .embedding)
    }

    /// The store, zero-filled (initialisation is the model's job).
    public func makeStore() -> ParameterStore {
        ParameterStore(entries: entries)
    }
}
