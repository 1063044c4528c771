/// Every trainable tensor of a model in one contiguous buffer, with a table of named views
/// (llm.c's `malloc_and_point_parameters`). Gradients live in a second buffer with the same layout,
/// so the optimizer is one flat loop, the gradient all-reduce is one call, and checkpoint I/O walks
/// the table.
public final class ParameterStore: @unchecked Sendable {
    /// One named tensor: where it sits in the flat buffers and how it is treated.
    public struct Entry: Sendable, Equatable {
        /// Path-like name, e.g. `blocks/0/attention/query/weight` (the checkpoint dataset name).
        public let name: String
        /// Dimensions, PyTorch order (a Linear weight is `[out, in]`).
        public let shape: [Int]
        /// First element in the flat buffers.
        public let offset: Int
        /// What the tensor is in its layer: it decides initialisation and weight decay.
        public let role: ParameterRole
        /// Whether AdamW applies weight decay to it (matrices and embeddings yes; biases, norms no).
        public var decays: Bool { role.decays }
        /// Number of elements.
        public var count: Int { shape.reduce(1, *) }
    }

    /// The table of views, in layout order.
    public let entries: [Entry]
    /// Parameter values, all tensors back to back.
    public let values: FloatBuffer
    /// Gradients, same layout as `values`.
    public let gradients: FloatBuffer
    private let index: [String: Int]

    /// Total number of scalars.
    public var count: Int { values.count }

    init(entries: [Entry]) {
        self.entries = entries
        let total = entries.last.map { $0.offset + $0.count } ?? 0
        values = FloatBuffer(count: total)
        gradients = FloatBuffer(count: total)
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// The entry called `name`, if any.
    public func entry(_ name: String) -> Entry? {
        index[name].map { entries[$0] }
    }

    /// The entries whose names start with `prefix` (they must be contiguous in the layout).
    public func entryRange(prefix: String) -> Range<Int> {
        guard let first = entries.firstIndex(where: { $0.name.hasPrefix(prefix) }) else { return 0 ..< 0 }
        let end = entries[first...].firstIndex { !$0.name.hasPrefix(prefix) } ?? entries.count
        precondition(!entries[end...].contains { $0.name.hasPrefix(prefix) }, "entries \(prefix)* are not contiguous")
        return first ..< end
    }

    /// The entries after the last one starting with `prefix` (all of them if none does).
    public func entryRange(after prefix: String) -> Range<Int> {
        let last = entries.lastIndex { $0.name.hasPrefix(prefix) }
        return (last.map { $0 + 1 } ?? 0) ..< entries.count
    }

    /// The entries before the first one starting with `prefix` (all of them if none does).
    public func entryRange(before prefix: String) -> Range<Int> {
        0 ..< (entries.firstIndex { $0.name.hasPrefix(prefix) } ?? entries.count)
    }

    /// Initialises every tensor by its role: biases and norm shifts 0, norm scales 1, and element i
    /// of a matrix or embedding `entry` as `draw(entry, stream, i)`, where `stream` is the tensor's
    /// own Philox stream (seed, "INIT", tensor index): the result depends only on the seed.
    public func initialize(seed: UInt64, matrices draw: (Entry, RandomStream, Int) -> Float) {
        for (index, entry) in entries.enumerated() {
            let tensor = values.pointer + entry.offset
            switch entry.role {
            case .bias, .normBias:
                tensor.update(repeating: 0, count: entry.count)
            case .normWeight:
                tensor.update(repeating: 1, count: entry.count)
            case .weight, .residualWeight, .embedding:
                let stream = RandomStream(seed: seed, 0x494E_4954, UInt32(index), 0)  // "INIT"
                for i in 0 ..< entry.count { tensor[i] = draw(entry, stream, i) }
            }
        }
    }

    /// The value and gradient views of `name` (a programming error if it does not exist).
    public func view(_ name: String) -> ParameterView {
        guard let entry = entry(name) else { preconditionFailure("no parameter named \(name)") }
        return ParameterView(value: values.pointer + entry.offset, gradient: gradients.pointer + entry.offset, count: entry.count)
    }
}

/// What a parameter tensor is, declared with it (`ParameterLayout`): models initialise by role,
/// and AdamW decays matrices and embeddings only.
public enum ParameterRole: Sendable, Equatable {
    /// A Linear layer's weight `[out, in]`.
    case weight
    /// The weight of a projection that adds into the residual stream (attention output, second
    /// feed-forward layer): GPT-2 scales their initialisation by 1/√(2·layers).
    case residualWeight
    /// A Linear layer's bias.
    case bias
    /// A layer norm's scale (initialised to 1).
    case normWeight
    /// A layer norm's shift (initialised to 0).
    case normBias
    /// An embedding table `[rows, channels]`.
    case embedding

    /// Whether AdamW applies weight decay (nanoGPT's rule: tensors of two or more dimensions).
    public var decays: Bool {
        switch self {
        case .weight, .residualWeight, .embedding: return true
        case .bias, .normWeight, .normBias: return false
        }
    }
}

/// A tensor's value and gradient in the flat buffers.
public struct ParameterView: @unchecked Sendable {
    /// The parameter values.
    public let value: UnsafeMutablePointer<Float>
    /// The gradient, accumulated by backward passes.
    public let gradient: UnsafeMutablePointer<Float>
    /// Number of elements.
    public let count: Int
}
