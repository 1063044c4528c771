import Foundation
import Yams

/// One run as `trainer plot` reads it: the records of `run_dir/metrics.jsonl` and, when present,
/// the resolved config in `run_dir/config.yaml`.
///
/// `metrics.jsonl` (written by `MetricsLog`) holds two kinds of records, one JSON object per line:
/// - a step record per optimizer step: `step`, `loss`, `lr`, `grad_norm`, `ms`, `tokens_per_s`,
///   `mfu`, `wait_ms`, `allreduce_ms`;
/// - an evaluation record per evaluation: `step`, `train_loss`, `val_loss`, and for translation
///   `bleu`, `chrf`, `cer`, `wer`.
/// A record with `loss` is a step record, one with `train_loss` or `val_loss` an evaluation; others
/// are skipped (kinds this reader does not know yet). `null` (a non-finite number) reads as NaN.
/// A step logged twice keeps its last record.
public struct RunMetrics: Sendable {
    /// One line of metrics.jsonl: its step and its numeric fields (NaN for `null`).
    public struct Record: Sendable, Equatable {
        public var step: Int
        public var values: [String: Double]

        public init(step: Int, values: [String: Double]) {
            self.step = step
            self.values = values
        }

        /// A field's value if present and finite.
        public subscript(key: String) -> Double? {
            guard let value = values[key], value.isFinite else { return nil }
            return value
        }
    }

    /// The name shown in legends (the run folder's name, see `displayNames(for:)`).
    public var name: String
    /// The metrics.jsonl read.
    public var path: String
    /// Step records, by step.
    public var steps: [Record]
    /// Evaluation records, by step.
    public var evaluations: [Record]
    /// config.yaml flattened to `a.b` → scalar text ("optimizer.lr" → "1.0e-3"); empty when the
    /// run folder has none (or it does not parse: it only adds captions).
    public var config: [String: String]

    public init(name: String, path: String, steps: [Record], evaluations: [Record], config: [String: String] = [:]) {
        self.name = name
        self.path = path
        self.steps = steps
        self.evaluations = evaluations
        self.config = config
    }

    // MARK: - Series

    /// (step, value) of a step-record field, finite values only, by step.
    public func stepSeries(_ key: String) -> [(step: Int, value: Double)] {
        steps.compactMap { record in record[key].map { (record.step, $0) } }
    }

    /// (step, value) of an evaluation field, finite values only, by step.
    public func evaluationSeries(_ key: String) -> [(step: Int, value: Double)] {
        evaluations.compactMap { record in record[key].map { (record.step, $0) } }
    }

    /// The fields of the evaluation records other than `step`, `train_loss` and `val_loss`
    /// (BLEU, chrF, ... for translation), in order of first appearance.
    public var extraEvaluationKeys: [String] {
        var keys: [String] = []
        for record in evaluations {
            for key in record.values.keys.sorted() where !["train_loss", "val_loss"].contains(key) && !keys.contains(key) {
                keys.append(key)
            }
        }
        return keys
    }

    /// Tokens a step processed (all ranks): `tokens_per_s` × `ms` / 1000, rounded; nil when not logged.
    public static func tokens(of record: Record) -> Double? {
        guard let rate = record["tokens_per_s"], let milliseconds = record["ms"] else { return nil }
        return (rate * milliseconds / 1000).rounded()
    }

    /// Tokens processed before each step (`tokensBefore(step:)`); nil when no step record has
    /// `tokens_per_s` and `ms`. A step without them counts as many as the step before it (the batch
    /// size is the same every step).
    public var tokenCounter: TokenCounter? {
        var perStep: [Double] = []
        var last: Double? = steps.lazy.compactMap(Self.tokens(of:)).first
        guard last != nil else { return nil }
        for record in steps {
            if let tokens = Self.tokens(of: record) { last = tokens }
            perStep.append(last!)
        }
        return TokenCounter(steps: steps.map(\.step), tokensPerStep: perStep)
    }

    /// Cumulative tokens over the step records of a run.
    public struct TokenCounter: Sendable {
        /// Steps, increasing.
        let steps: [Int]
        /// cumulative[i]: tokens of steps[0 ..< i].
        let cumulative: [Double]

        init(steps: [Int], tokensPerStep: [Double]) {
            self.steps = steps
            var sums = [0.0]
            for tokens in tokensPerStep { sums.append(sums.last! + tokens) }
            cumulative = sums
        }

        /// Tokens processed by the step records before `step`: what the model had seen when the
        /// loss of `step` (or an evaluation at `step`) was measured.
        public func tokensBefore(step: Int) -> Double {
            var low = 0, high = steps.count  // first index with steps[index] >= step
            while low < high {
                let middle = (low + high) / 2
                if steps[middle] < step { low = middle + 1 } else { high = middle }
            }
            return cumulative[low]
        }

        /// All the tokens of the run's step records.
        public var total: Double { cumulative.last! }
    }

    // MARK: - Reading

    /// Reads `path/metrics.jsonl` (or `path` itself when it is a file) and `config.yaml` beside it.
    /// - Throws: `TrainerError` naming the folder or file: missing, unreadable, a line that is not a
    ///   JSON object or lacks an integer `step` (with its line number), or no records at all.
    public static func load(_ path: String, name: String? = nil) throws -> RunMetrics {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainerError("\(path): no such run directory; pass the run_dir of a training run (it holds metrics.jsonl)")
        }
        let folder = isDirectory.boolValue ? path : parentFolder(of: path)
        let metricsPath = isDirectory.boolValue ? joined(path, "metrics.jsonl") : path
        guard FileManager.default.fileExists(atPath: metricsPath) else {
            throw TrainerError("\(metricsPath): not found; is \(path) the run_dir of a training run? "
                + "(trainer train writes metrics.jsonl there from its first step)")
        }
        guard let data = FileManager.default.contents(atPath: metricsPath) else {
            throw TrainerError("\(metricsPath): cannot read it (\(String(cString: strerror(errno))))")
        }
        let (steps, evaluations) = try parse(data, path: metricsPath)
        let configPath = joined(folder, "config.yaml")
        let config = (try? String(contentsOfFile: configPath, encoding: .utf8)).flatMap { flattenedConfig($0) } ?? [:]
        return RunMetrics(name: name ?? displayNames(for: [path])[0], path: metricsPath, steps: steps,
                          evaluations: evaluations, config: config)
    }

    /// The step and evaluation records of metrics.jsonl's bytes; `path` names the file in errors.
    public static func parse(_ data: Data, path: String) throws -> (steps: [Record], evaluations: [Record]) {
        var steps: [Int: Record] = [:], evaluations: [Int: Record] = [:]
        var lineNumber = 0, records = 0
        for var line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let location = "\(path) line \(lineNumber)"
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                throw TrainerError("\(location): not a JSON object: '\(excerpt(line))'; the file is damaged "
                    + "(each line must be one record as trainer train writes it); remove or fix that line")
            }
            guard let number = object["step"] as? NSNumber, let step = Int(exactly: number.doubleValue), step >= 0 else {
                throw TrainerError("\(location): no \"step\" that is a whole number ≥ 0 in '\(excerpt(line))'")
            }
            var values: [String: Double] = [:]
            for (key, value) in object where key != "step" {
                if let number = value as? NSNumber {
                    values[key] = number.doubleValue
                } else if value is NSNull {
                    values[key] = .nan
                }
            }
            let record = Record(step: step, values: values)
            if values["loss"] != nil { steps[step] = record }
            if values["train_loss"] != nil || values["val_loss"] != nil { evaluations[step] = record }
            records += 1
        }
        guard records > 0 else {
            throw TrainerError("\(path): no metrics records (the file is empty); "
                + "it fills as the run trains: one line per step and per evaluation")
        }
        guard !steps.isEmpty || !evaluations.isEmpty else {
            throw TrainerError("\(path): \(records) records, none with \"loss\" (a step) or \"val_loss\" (an evaluation); "
                + "is it a trainer metrics.jsonl?")
        }
        return (steps.values.sorted { $0.step < $1.step }, evaluations.values.sorted { $0.step < $1.step })
    }

    /// The start of a line for an error message (printable ASCII, at most 60 characters).
    static func excerpt(_ line: Data.SubSequence) -> String {
        let text = String(decoding: line.prefix(60), as: UTF8.self)
            .map { $0.isASCII && ($0.isLetter || $0.isNumber || $0.isPunctuation || $0.isSymbol || $0 == " ") ? $0 : "?" }
        return String(text) + (line.count > 60 ? "…" : "")
    }

    /// config.yaml's scalars by dotted key path, nil if it is not a YAML mapping.
    static func flattenedConfig(_ text: String) -> [String: String]? {
        guard let node = try? Yams.compose(yaml: text), case .mapping = node else { return nil }
        var result: [String: String] = [:]
        func visit(_ node: Node, _ prefix: String) {
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    let name = key.string ?? "?"
                    visit(value, prefix.isEmpty ? name : prefix + "." + name)
                }
            case .scalar(let scalar): result[prefix] = scalar.string
            case .sequence(let sequence): result[prefix] = "[" + sequence.map { $0.string ?? "…" }.joined(separator: ", ") + "]"
            case .alias: break
            }
        }
        visit(node, "")
        return result
    }

    // MARK: - Names

    /// Legend names for runs given by these paths: each run folder's name (a metrics.jsonl's
    /// folder), with as many parent folders as it takes to tell equal names apart
    /// (`a/default`, `b/default`); the same folder given twice gets " (2)", " (3)", ...
    public static func displayNames(for paths: [String]) -> [String] {
        let components: [[String]] = paths.map { path in
            var parts = URL(fileURLWithPath: path).standardizedFileURL.pathComponents.filter { $0 != "/" }
            var isDirectory: ObjCBool = true
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue, !parts.isEmpty {
                parts.removeLast()  // a metrics.jsonl given as such: its folder's name
            }
            return parts.isEmpty ? ["/"] : parts
        }
        var depth = [Int](repeating: 1, count: paths.count)
        func name(_ index: Int) -> String { components[index].suffix(depth[index]).joined(separator: "/") }
        while true {
            var grew = false
            let names = paths.indices.map(name)
            for index in paths.indices where depth[index] < components[index].count {
                let clashes = paths.indices.contains { $0 != index && names[$0] == names[index] && components[$0] != components[index] }
                if clashes { depth[index] += 1; grew = true }
            }
            if !grew { break }
        }
        var names = paths.indices.map(name), seen: [String: Int] = [:]
        for index in names.indices {
            seen[names[index], default: 0] += 1
            if seen[names[index]]! > 1 { names[index] += " (\(seen[names[index]]!))" }
        }
        return names
    }

    static func joined(_ folder: String, _ name: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }

    /// The folder of a file path, by hand (Foundation's deletingLastPathComponent traps on
    /// one-letter names; see RunDirectory).
    static func parentFolder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
