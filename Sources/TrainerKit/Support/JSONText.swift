import Foundation

/// A JSON value written in a fixed order: the files an export writes (the safetensors header,
/// `config.json`, `tokenizer.json`) keep their keys in the order given, so they read like the
/// ones Hugging Face writes and the same checkpoint always gives the same bytes.
public indirect enum JSONText: Sendable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// An integer.
    case int(Int)
    /// A finite number (written with Swift's shortest round-trip form, e.g. `1e-05`).
    case double(Double)
    /// A string (escaped by `quoted`).
    case string(String)
    /// An array.
    case array([JSONText])
    /// Keys in the order they are written.
    case object([(String, JSONText)])

    /// The text on one line, without spaces.
    public var compact: String {
        var text = ""
        write(into: &text, indent: nil, depth: 0)
        return text
    }

    /// The text indented by two spaces per level, one member per line (arrays of numbers stay on
    /// one line), ending with a newline.
    public var pretty: String {
        var text = ""
        write(into: &text, indent: "  ", depth: 0)
        return text + "\n"
    }

    private func write(into text: inout String, indent: String?, depth: Int) {
        switch self {
        case .null: text += "null"
        case .bool(let value): text += value ? "true" : "false"
        case .int(let value): text += String(value)
        case .double(let value):
            precondition(value.isFinite, "JSON has no \(value)")
            text += "\(value)"
        case .string(let value): text += Self.quoted(value)
        case .array(let elements):
            let flat = indent == nil || elements.allSatisfy { if case .int = $0 { return true } else { return false } }
            writeMembers(elements.map { (nil, $0) }, open: "[", close: "]", into: &text, indent: flat ? nil : indent,
                         depth: depth)
        case .object(let members):
            writeMembers(members.map { ($0.0, $0.1) }, open: "{", close: "}", into: &text, indent: indent, depth: depth)
        }
    }

    private func writeMembers(_ members: [(String?, JSONText)], open: String, close: String, into text: inout String,
                              indent: String?, depth: Int) {
        text += open
        if members.isEmpty {
            text += close
            return
        }
        let separator = indent == nil ? "," : ",\n"
        for (index, (key, value)) in members.enumerated() {
            if index > 0 { text += separator }
            if let indent { text += (index == 0 ? "\n" : "") + String(repeating: indent, count: depth + 1) }
            if let key { text += Self.quoted(key) + (indent == nil ? ":" : ": ") }
            value.write(into: &text, indent: indent, depth: depth + 1)
        }
        if let indent { text += "\n" + String(repeating: indent, count: depth) }
        text += close
    }

    /// `value` as a JSON string: quotes, backslashes and control characters escaped, everything
    /// else as is (UTF-8).
    public static func quoted(_ value: String) -> String {
        var text = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20: text += String(format: "\\u%04x", scalar.value)
            default: text.unicodeScalars.append(scalar)
            }
        }
        return text + "\""
    }
}
