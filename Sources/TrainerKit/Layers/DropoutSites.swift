/// Numbers a model's dropout locations ("sites") in the order they are declared, keeping their
/// names. A site's number keys its Philox stream (`DropoutContext.stream(site:)`), so a model
/// must declare its sites in a fixed order: the embeddings first, then each sublayer as it is
/// built (its residual dropout, then, for attention, the dropout on the probabilities).
public struct DropoutSites: Sendable {
    /// Site names, indexed by number (e.g. `blocks/0/attention/probabilities`).
    public private(set) var names: [String] = []

    public init() {}

    /// The next site's number.
    public mutating func declare(_ name: String) -> Int {
        precondition(!names.contains(name), "dropout site \(name) declared twice")
        names.append(name)
        return names.count - 1
    }
}
