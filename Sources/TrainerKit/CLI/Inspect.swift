import Foundation

/// `trainer inspect FILE.h5`: a readable summary of a checkpoint or a dataset.
public enum Inspect {
    public static func describe(path: String) throws -> String {
        let file = try HDF5File(path: path, mode: .readOnly)
        let format = (try? file.stringAttribute("format")) ?? ""
        var lines: [String] = []
        switch format {
        case Checkpoint.format:
            let reader = try Checkpoint.Reader(path: path)
            let h = reader.header
            lines.append("\(path): checkpoint (\(h.modelKind)), step \(h.step), \(h.tokensSeen) tokens seen, seed \(h.seed), written \((try? file.stringAttribute("created_utc")) ?? "?")")
            lines.append(try describeTokenizers(file.group("tokenizer")))
            let model = try file.group("model")
            var total = 0
            lines.append("parameters:")
            for name in try model.datasetPaths() {
                let dataset = try model.dataset(name)
                let shape = try dataset.shape
                let count = shape.reduce(1, *)
                total += count
                lines.append(String(format: "  %-48@ %-14@ %10d", "/model/" + name, shape.map(String.init).joined(separator: "×"), count))
            }
            lines.append("  total \(total) parameters (\(String(format: "%.2f", Double(total) / 1e6))M)")
            let optimizer = try file.group("optimizer")
            lines.append("optimizer: \(try optimizer.stringAttribute("kind")), step \(try optimizer.intAttribute("step")), beta1 \(try optimizer.doubleAttribute("beta1")), beta2 \(try optimizer.doubleAttribute("beta2")), eps \(try optimizer.doubleAttribute("eps")), weight decay \(try optimizer.doubleAttribute("weight_decay"))")
            let metrics = try reader.metrics()
            for name in metrics.series.keys.sorted() where name != "loss" {
                if let last = metrics.last(name) { lines.append(String(format: "%@: %.4f at step %d", name, last.value, last.step)) }
            }
            if let last = metrics.last("loss") { lines.append(String(format: "last training loss: %.4f at step %d", last.value, last.step)) }
            lines.append("config:")
            lines += h.config.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
        case "trainer-dataset":
            let kind = try file.stringAttribute("kind")
            lines.append("\(path): dataset (\(kind)), written \((try? file.stringAttribute("created_utc")) ?? "?")")
            let sources = (try? file.stringArrayAttribute("sources")) ?? []
            let digests = (try? file.stringArrayAttribute("sources_sha256")) ?? []
            for (i, source) in sources.enumerated() {
                lines.append("source: \(source)" + (i < digests.count ? " (sha256 \(digests[i]))" : ""))
            }
            lines.append(try describeTokenizers(file.group("tokenizer")))
            for name in try file.datasetPaths() where !name.hasPrefix("tokenizer") {
                let dataset = try file.dataset(name)
                lines.append(String(format: "  /%-32@ %@ × %d", name, dataset.elementDescription, try dataset.count))
            }
        default:
            lines.append("\(path): HDF5 file without a trainer format attribute")
            for name in try file.datasetPaths() {
                let dataset = try file.dataset(name)
                lines.append("  /\(name) \(dataset.elementDescription) \(try dataset.shape)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// "tokenizer: char, 78 tokens", or for translation "tokenizers: word, 130 source + 160 target tokens".
    static func describeTokenizers(_ group: HDF5Group) throws -> String {
        if TokenizerPair.isPair(group) {
            let pair = try TokenizerPair(from: group)
            return (pair.shared ? "tokenizer: " : "tokenizers: ") + pair.summary
        }
        let tokenizer = try Tokenizers.read(from: group)
        return "tokenizer: \(tokenizer.kind), \(tokenizer.count) tokens"
    }
}
