import Foundation
import Yams

/// Reads a `RunConfig`: a YAML (or JSON) file, then `--set key.path=value` overrides on top.
///
/// The steps: parse the text into a YAML node tree; reject unknown keys at any depth (the keys are
/// the structs' `CodingKeys`); apply the overrides to the tree; decode with the defaults for what is
/// missing; `validate()`. Every failure is a one-line `TrainerError` that names the file (or the
/// override) and the key:
///
///     config run.yaml: unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)
///     config run.yaml: data.batch_size: expected an integer, found 'twelve'
///     --set model.kind=gtp: model.kind: expected one of gpt, seq2seq, found 'gtp'
public enum ConfigLoader {
    /// Loads the config file at `path` (YAML or JSON), or the defaults when `path` is nil, then
    /// applies `overrides` (`key.path=value`, from `--set`) and validates the result.
    ///
    /// - Throws: `TrainerError` when the file is missing or is not valid YAML, on an unknown key, a
    ///   value of the wrong type, a malformed override, or a value `RunConfig.validate()` rejects.
    public static func load(path: String?, overrides: [String] = []) throws -> RunConfig {
        guard let path else {
            return try load(text: "", source: "(defaults)", overrides: overrides)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainerError("config \(path): no such file")
        }
        guard !isDirectory.boolValue else {
            throw TrainerError("config \(path): is a directory; give the path of a YAML or JSON file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainerError("config \(path): cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TrainerError("config \(path): is not UTF-8 text")
        }
        return try load(text: text, source: path, overrides: overrides)
    }

    /// The path of the shipped config `name` (e.g. "gpt-full.yaml"): `configs/<name>` in the working
    /// folder (a clone), else where `launch/install.sh` puts it beside the executable,
    /// `<prefix>/share/trainer/configs/<name>`; `configs/<name>` when neither exists, so that the
    /// error names that.
    public static func shippedConfig(_ name: String) -> String {
        let local = "configs/" + name
        guard !FileManager.default.fileExists(atPath: local) else { return local }
        #if os(Linux)
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let installed = URL(fileURLWithPath: executable).deletingLastPathComponent()
                .appendingPathComponent("../share/trainer/configs/" + name).standardizedFileURL.path
            if FileManager.default.fileExists(atPath: installed) { return installed }
        }
        #endif
        return local
    }

    /// Loads a config from YAML (or JSON) `text`, e.g. the text stored in a checkpoint, then applies
    /// `overrides` and validates the result.
    ///
    /// - Parameter source: Where the text comes from (a path), named in error messages.
    public static func load(text: String, source: String, overrides: [String] = []) throws -> RunConfig {
        var root = try parse(text, source: source)
        try checkKeys(of: root, schema: RunConfig.schema, at: [], origin: "config \(source)")

        // Key path ("optimizer.lr") -> the override that set it, to name it in decoding errors.
        var overrideOf: [String: String] = [:]
        for override in overrides {
            let (keyPath, value) = try parseOverride(override)
            try checkOverridePath(keyPath, origin: "--set \(override)")
            root = setting(value, at: keyPath[...], in: root)
            overrideOf[keyPath.joined(separator: ".")] = override
        }

        // Every key the text does not give takes its default (the structs' property initialisers).
        root = filled(root, from: try defaults())
        let config: RunConfig
        do {
            config = try YAMLDecoder().decode(RunConfig.self, from: .mapping(root))
        } catch let error as DecodingError {
            throw describe(error, in: root, source: source, overrideOf: overrideOf)
        }
        try config.validate()
        return config
    }

    /// The whole config as YAML text: every key, snake_case, in declaration order, with the stored
    /// values (0 stays 0 where it means "derive from another key").
    /// `load(text: yaml(config), ...)` gives back `config`.
    ///
    /// - Throws: `TrainerError` when a number is infinite or NaN (such a config does not validate).
    public static func yaml(_ config: RunConfig) throws -> String {
        // Yams' YAMLEncoder writes doubles with 15 significant digits, losing the last bits;
        // JSONEncoder writes the shortest text that reads back exactly. So encode to JSON and
        // re-emit that as block YAML, in the schema's key order.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let jsonData: Data
        do {
            jsonData = try encoder.encode(config)
        } catch {
            throw TrainerError("config: cannot be written: a number is infinite or NaN")
        }
        let json = String(decoding: jsonData, as: UTF8.self)
        guard case .mapping(let root)? = try Yams.compose(yaml: json) else { return json }
        return try Yams.serialize(node: .mapping(blockMapping(root, schema: RunConfig.schema)))
    }
}

// MARK: - Defaults

extension ConfigLoader {
    /// `RunConfig()` as a YAML tree: the one place the defaults come from.
    static func defaults() throws -> Node.Mapping {
        try parse(yaml(RunConfig()), source: "(defaults)")
    }

    /// `mapping` with the keys it lacks (or leaves empty, `model:`) taken from `defaults`, at any depth.
    static func filled(_ mapping: Node.Mapping, from defaults: Node.Mapping) -> Node.Mapping {
        var result = mapping
        for (key, fallback) in defaults {
            guard let given = mapping.first(where: { $0.key == key })?.value, given.null == nil else {
                result[key] = fallback
                continue
            }
            if case .mapping(let inner) = given, case .mapping(let innerDefaults) = fallback {
                result[key] = .mapping(filled(inner, from: innerDefaults))
            }
        }
        return result
    }
}

// MARK: - Writing

extension ConfigLoader {
    /// A mapping parsed from JSON as block YAML: keys in the schema's order, strings quoted only
    /// where YAML needs it, numbers written readably.
    private static func blockMapping(_ mapping: Node.Mapping, schema: ConfigSchema) -> Node.Mapping {
        let pairs: [(Node, Node)] = schema.keys.compactMap { key in
            guard let value = mapping.first(where: { $0.key.string == key })?.value else { return nil }
            if let section = schema.sections[key], case .mapping(let inner) = value {
                return (Node(key), .mapping(blockMapping(inner, schema: section)))
            }
            return (Node(key), blockScalar(value))
        }
        return Node.Mapping(pairs)
    }

    /// A JSON scalar as a YAML one. A JSON string becomes a YAML string, which the emitter quotes
    /// only when it would otherwise read as something else (`'1e-1'`, `'yes'`, `''`). A float keeps
    /// its shortest exact digits, with a `.0` before a bare exponent (`1.0e-05`, not `1e-05`) so that
    /// YAML 1.1 readers such as PyYAML see a number too.
    private static func blockScalar(_ node: Node) -> Node {
        guard case .scalar(var scalar) = node else { return node }
        if scalar.style == .doubleQuoted {
            return .scalar(scalar.string.represented())
        }
        if Resolver.default.resolveTag(of: node) == .float, let value = Double(scalar.string), value.isFinite {
            let text = value.description
            if let exponent = text.firstIndex(of: "e"), !text.contains(".") {
                scalar.string = text[..<exponent] + ".0" + text[exponent...]
            } else {
                scalar.string = text
            }
        }
        return .scalar(scalar)
    }
}

// MARK: - Parsing

extension ConfigLoader {
    /// The top-level mapping of `text`; an empty text (or one holding only comments) is an empty mapping.
    private static func parse(_ text: String, source: String) throws -> Node.Mapping {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw syntaxError(error, source: source)
        }
        switch node {
        case nil:
            return Node.Mapping([])
        case .mapping(let mapping)?:
            return mapping
        case let node? where node.null != nil:
            return Node.Mapping([])
        case let node?:
            throw TrainerError("config \(source): expected a mapping of keys (\(RunConfig.schema.keyList)) "
                + "at the top level, found \(description(of: node))")
        }
    }

    /// Yams' error as one line: the file, the line and column, and libyaml's problem.
    private static func syntaxError(_ error: any Error, source: String) -> TrainerError {
        switch error as? YamlError {
        case let .scanner(context, problem, mark, _)?,
             let .parser(context, problem, mark, _)?,
             let .composer(context, problem, mark, _)?:
            var message = "config \(source): invalid YAML at line \(mark.line), column \(mark.column): \(problem)"
            if let context {
                message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
            }
            return TrainerError(message)
        case let .duplicatedKeysInMapping(duplicates, context)?:
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return TrainerError("config \(source): duplicate key \(keys) in the mapping at line \(context.mark.line)")
        default:
            let firstLine = "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
            return TrainerError("config \(source): invalid YAML: \(firstLine)")
        }
    }

    /// Splits `key.path=value` and parses the value as a YAML scalar (`0.5` is a number, `true` a
    /// bool, `gpt` a string; an empty value is the empty string).
    private static func parseOverride(_ override: String) throws -> (keyPath: [String], value: Node) {
        let usage = "--set \(override): expected key.path=value, e.g. --set optimizer.lr=3e-4"
        guard let equals = override.firstIndex(of: "=") else { throw TrainerError(usage) }
        let keyPath = override[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !keyPath.contains(where: \.isEmpty) else { throw TrainerError(usage) }

        let text = String(override[override.index(after: equals)...])
        let value: Node?
        do {
            value = try Yams.compose(yaml: text)
        } catch {
            throw TrainerError("--set \(override): the value is not valid YAML; quote it")
        }
        switch value {
        case nil:
            return (keyPath, Node("", Tag(.str), .doubleQuoted))
        case .scalar(let scalar)?:
            return (keyPath, .scalar(scalar))
        case let value?:
            throw TrainerError("--set \(override): expected a single value, found \(description(of: value))")
        }
    }

    /// `mapping` with `value` at `keyPath`, replacing what was there and creating the sections on the way.
    private static func setting(_ value: Node, at keyPath: ArraySlice<String>, in mapping: Node.Mapping) -> Node.Mapping {
        guard let key = keyPath.first else { return mapping }
        var pairs = mapping.map { ($0.key, $0.value) }
        let index = pairs.lastIndex { $0.0.string == key }
        let newValue: Node
        if keyPath.count == 1 {
            newValue = value
        } else {
            let section = index.flatMap { pairs[$0].1.mapping } ?? Node.Mapping([])
            newValue = .mapping(setting(value, at: keyPath.dropFirst(), in: section))
        }
        if let index {
            pairs[index].1 = newValue
        } else {
            pairs.append((Node(key), newValue))
        }
        return Node.Mapping(pairs)
    }
}

// MARK: - Unknown keys and shapes

extension ConfigLoader {
    /// Rejects keys the schema does not know, sections that are not mappings, and values that are
    /// not single values, at any depth. A section left empty (`model:`) keeps its defaults.
    private static func checkKeys(of mapping: Node.Mapping, schema: ConfigSchema, at path: [String],
                                  origin: String) throws {
        for (keyNode, value) in mapping {
            let key = keyNode.scalar?.string ?? description(of: keyNode)
            let keyPath = path + [key]
            let dotted = keyPath.joined(separator: ".")
            guard schema.keys.contains(key) else {
                throw unknownKey(keyPath, schema: schema, origin: origin)
            }
            if let section = schema.sections[key] {
                switch value {
                case .mapping(let inner):
                    try checkKeys(of: inner, schema: section, at: keyPath, origin: origin)
                case _ where value.null != nil:
                    continue
                default:
                    throw TrainerError("\(origin): \(dotted): expected a mapping of keys (\(section.keyList)), "
                        + "found \(description(of: value))")
                }
            } else if value.scalar == nil {
                throw TrainerError("\(origin): \(dotted): expected a single value, found \(description(of: value))")
            }
        }
    }

    /// Checks that an override names a value (not a section) the schema knows.
    private static func checkOverridePath(_ keyPath: [String], origin: String) throws {
        var schema = RunConfig.schema
        for depth in keyPath.indices {
            let key = keyPath[depth]
            let dotted = keyPath[...depth].joined(separator: ".")
            guard schema.keys.contains(key) else {
                throw unknownKey(Array(keyPath[...depth]), schema: schema, origin: origin)
            }
            let isLast = depth == keyPath.count - 1
            switch (schema.sections[key], isLast) {
            case (let section?, false):
                schema = section
            case (let section?, true):
                throw TrainerError("\(origin): \(dotted) is a section; set one of its keys "
                    + "(\(section.keys.map { "\(dotted).\($0)" }.joined(separator: ", ")))")
            case (nil, false):
                throw TrainerError("\(origin): \(dotted) is a single value and has no keys of its own")
            case (nil, true):
                return
            }
        }
    }

    /// `unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)` when a known key at that level is
    /// within 3 edits, else the list of the keys at that level.
    private static func unknownKey(_ keyPath: [String], schema: ConfigSchema, origin: String) -> TrainerError {
        let key = keyPath.last ?? ""
        let parent = keyPath.dropLast()
        let message = "\(origin): unknown key '\(keyPath.joined(separator: "."))'"
        let closest = schema.keys.map { (key: $0, distance: editDistance(key, $0)) }.min { $0.distance < $1.distance }
        if let closest, closest.distance <= 3 {
            return TrainerError(message + " (did you mean '\((parent + [closest.key]).joined(separator: "."))'?)")
        }
        let level = parent.isEmpty ? "" : " in \(parent.joined(separator: "."))"
        return TrainerError(message + " (valid keys\(level): \(schema.keyList))")
    }

    /// Levenshtein distance: the fewest single-character insertions, deletions and substitutions
    /// that turn `a` into `b`.
    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0 ... b.count)  // distances from a[..<i-1] to b[..<j]
        for i in 1 ... a.count {
            var current = [i] + Array(repeating: 0, count: b.count)  // distances from a[..<i] to b[..<j]
            for j in 1 ... b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
            }
            previous = current
        }
        return previous[b.count]
    }
}

// MARK: - Decoding errors

extension ConfigLoader {
    /// A `DecodingError` as one line naming the key path, what was expected and what was found,
    /// attributed to the override that set the value or else to the file.
    private static func describe(_ error: DecodingError, in root: Node.Mapping, source: String,
                                 overrideOf: [String: String]) -> TrainerError {
        let codingPath: [any CodingKey]
        let expected: String
        switch error {
        case let .typeMismatch(type, context):
            codingPath = context.codingPath
            expected = expectation(of: type)
        case let .dataCorrupted(context):  // a bad enum value: see ConfigChoice
            codingPath = context.codingPath
            expected = context.debugDescription
        case let .keyNotFound(_, context), let .valueNotFound(_, context):
            codingPath = context.codingPath
            expected = context.debugDescription
        @unknown default:
            return TrainerError("config \(source): \(error)")
        }
        let keyPath = codingPath.map(\.stringValue)
        let dotted = keyPath.joined(separator: ".")
        let origin = overrideOf[dotted].map { "--set \($0)" } ?? "config \(source)"
        let found = value(at: keyPath, in: root).map(description(of:)) ?? "nothing"
        return TrainerError("\(origin): \(dotted): \(expected), found \(found)")
    }

    /// What a config value of `type` must look like, in words.
    private static func expectation(of type: Any.Type) -> String {
        switch type {
        case is Int.Type: "expected an integer"
        case is Double.Type: "expected a number"
        case is Bool.Type: "expected true or false"
        case is String.Type: "expected a string"
        default: "expected a \(type)"
        }
    }

    /// The node at `keyPath` under `root`, if there is one.
    private static func value(at keyPath: [String], in root: Node.Mapping) -> Node? {
        var node = Node.mapping(root)
        for key in keyPath {
            guard let next = node.mapping?.first(where: { $0.key.string == key })?.value else { return nil }
            node = next
        }
        return node
    }

    /// A node as a user wrote it: `'twelve'`, `the quoted string '12'`, `a mapping`, `a list`.
    private static func description(of node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            switch scalar.style {
            case .singleQuoted, .doubleQuoted: "the quoted string '\(scalar.string)'"
            default: "'\(scalar.string)'"
            }
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}

extension ConfigSchema {
    /// The keys at this level, comma-separated.
    fileprivate var keyList: String { keys.joined(separator: ", ") }
}
