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

    /// Decodes the keys present and keeps the defaults for the others.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        interval = try container.decodeIfPresent(Int.self, forKey: .interval) ?? interval
        keep = try container.decodeIfPresent(Int.self, forKey: .keep) ?? keep
    }
}

// MARK: - Validation
