/// A string enum of a config file, whose bad values decode to an error listing the choices.
protocol ConfigChoice: RawRepresentable<String>, CaseIterable {}

extension ConfigChoice {
    /// Decodes one of the cases; otherwise throws `DecodingError.dataCorrupted` whose description
    /// is "expected one of ..." (`ConfigLoader` puts it in its message as is).
    static func decodeChoice(from decoder: any Decoder) throws -> Self {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Self(rawValue: text) else {
            let choices = allCases.map(\.rawValue).joined(separator: ", ")
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected one of \(choices)")
        }
        return value
    }
}
