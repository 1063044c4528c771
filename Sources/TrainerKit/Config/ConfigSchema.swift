/// The keys a config mapping may hold at one level, in file order, and which of them are sections
/// (nested mappings) with keys of their own. Derived from the structs' `CodingKeys`, so the structs
/// stay the one source of truth; `ConfigLoader` uses it to reject unknown keys.
struct ConfigSchema: Sendable {
    /// The file keys at this level.
    var keys: [String]
    /// The keys among `keys` whose values are mappings, with their schemas.
    var sections: [String: ConfigSchema] = [:]

    init<Key: CodingKey & CaseIterable & Hashable>(_: Key.Type, sections: [Key: ConfigSchema] = [:]) {
        keys = Key.allCases.map(\.stringValue)
        self.sections = Dictionary(uniqueKeysWithValues: sections.map { ($0.key.stringValue, $0.value) })
    }
}
