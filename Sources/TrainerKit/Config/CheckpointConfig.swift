/// When to write checkpoints and how many to keep.
public struct CheckpointConfig: Codable, Sendable, Equatable {
    /// Steps between checkpoints (one is always written at the end); 0 means only at the end.
    public var interval = 1000
    /// How many checkpoints to keep in `run_dir`, newest first; at least 1.
    public var keep = 1

    enum CodingKeys: String, CodingKey, CaseIterable {
        case interval, keep
    }

    /// The default checkpoint settings.
    public init() {}

}

// MARK: - Validation
