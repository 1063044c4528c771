import Foundation

/// `run_dir/metrics.jsonl`: one JSON object per line, appended by rank 0 (one per step, one per
/// evaluation). Numbers keep full precision; non-finite ones are written as `null`.
struct MetricsLog {
    let path: String

    /// Appends one object with `fields` in the order given.
    func append(_ fields: [(String, Any)]) {
        let body = fields.map { key, value -> String in
            switch value {
            case let d as Double: return "\"\(key)\": \(d.isFinite ? String(d) : "null")"
            case let i as Int: return "\"\(key)\": \(i)"
            default: return "\"\(key)\": \"\(value)\""
            }
        }.joined(separator: ", ")
        let line = "{" + body + "}\n"
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(Data(line.utf8))
            try? handle.close()
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: Data(line.utf8))
        }
    }
}
