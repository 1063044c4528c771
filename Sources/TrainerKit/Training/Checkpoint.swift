import Foundation

/// A training checkpoint in HDF5 (ARCHITECTURE.md, "Checkpoint"): the model's parameters as
/// `/model/<name>`, AdamW's state under `/optimizer`, the tokenizer, the metrics history, and under
/// `/state` what an exact resume needs besides the step (the gradient-sum exponents).
public struct Checkpoint {
    public static let format = "trainer-checkpoint"

    /// What a checkpoint holds besides the big tensors.
    public struct Header: Sendable {
        public var modelKind: String
        public var step: Int
        public var tokensSeen: Int
        public var seed: Int
        /// The full resolved run config (YAML).
        public var config: String
    }

    /// Writes a checkpoint atomically (temporary file, fsync, rename), so a crash or a full disk
    /// never leaves a broken or missing checkpoint at `path`.
    public static func write(
        to path: String, header: Header, parameters: ParameterStore, optimizer: AdamW,
        writeTokenizer: (HDF5Group) throws -> Void,
        metrics: MetricsHistory, exponents: [Int32], extraState: [String: String] = [:]
    ) throws {
        try AtomicFile.write(to: path) { temporary in
            let file = try HDF5File(path: temporary, mode: .truncate)
            try file.setAttribute("format", format)
            try file.setAttribute("format_version", Int64(1))
            try file.setAttribute("model_kind", header.modelKind)
            try file.setAttribute("step", Int64(header.step))
            try file.setAttribute("tokens_seen", Int64(header.tokensSeen))
            try file.setAttribute("seed", Int64(header.seed))
            try file.setAttribute("config", header.config)
            try file.setAttribute("created_utc", ISO8601DateFormatter().string(from: Date()))
            try writeTensors(parameters.values, entries: parameters.entries, into: file.createGroup("model"))
            let optimizerGroup = try file.createGroup("optimizer")
            try optimizerGroup.setAttribute("kind", "adamw")
            try optimizerGroup.setAttribute("beta1", Double(optimizer.beta1))
            try optimizerGroup.setAttribute("beta2", Double(optimizer.beta2))
            try optimizerGroup.setAttribute("eps", Double(optimizer.epsilon))
            try optimizerGroup.setAttribute("weight_decay", Double(optimizer.weightDecay))
            try optimizerGroup.setAttribute("step", Int64(optimizer.step))
            try writeTensors(optimizer.m, entries: parameters.entries, into: optimizerGroup.createGroup("m"))
            try writeTensors(optimizer.v, entries: parameters.entries, into: optimizerGroup.createGroup("v"))
            try writeTokenizer(file.createGroup("tokenizer"))
            try metrics.write(to: file.createGroup("metrics"))
            let state = try file.createGroup("state")
            try state.write("gradient_exponents", exponents)
            try state.writeStrings("gradient_exponent_names", parameters.entries.map(\.name))
            for (key, value) in extraState.sorted(by: { $0.key < $1.key }) { try state.setAttribute(key, value) }
            try file.close()
        }
    }

    private static func writeTensors(_ buffer: FloatBuffer, entries: [ParameterStore.Entry], into group: HDF5Group) throws {
        for entry in entries {
            try group.write(entry.name, UnsafeBufferPointer(start: buffer.pointer + entry.offset, count: entry.count),
                            shape: entry.shape)
        }
    }

    /// An open checkpoint file, read lazily.
    public final class Reader {
        public let path: String
        public let file: HDF5File
        public let header: Header

        public init(path: String) throws {
            self.path = path
            file = try HDF5File(path: path, mode: .readOnly)
            let format = (try? file.stringAttribute("format")) ?? "none"
            guard format == Checkpoint.format else {
                throw TrainerError("\(path): not a trainer checkpoint (format '\(format)')")
            }
            let version = try file.intAttribute("format_version")
            guard version == 1 else { throw TrainerError("\(path): checkpoint format_version \(version), this trainer reads 1") }
            header = Header(modelKind: try file.stringAttribute("model_kind"), step: try file.intAttribute("step"),
                            tokensSeen: try file.intAttribute("tokens_seen"), seed: try file.intAttribute("seed"),
                            config: try file.stringAttribute("config"))
            for (name, value) in [("step", header.step), ("tokens_seen", header.tokensSeen), ("seed", header.seed)] where value < 0 {
                throw TrainerError("\(path): the attribute \(name) is \(value); it must be 0 or more")
            }
        }

        /// The stored tokenizer.
        public func tokenizer() throws -> Tokenizer { try Tokenizers.read(from: file.group("tokenizer")) }

        /// Loads `/model/<name>` into every entry of `parameters` (names and shapes must match).
        public func loadParameters(into parameters: ParameterStore) throws {
            try readTensors(into: parameters.values, entries: parameters.entries, from: file.group("model"))
        }

        /// Loads AdamW's moments and step.
        public func loadOptimizer(into optimizer: AdamW, entries: [ParameterStore.Entry]) throws {
            let group = try file.group("optimizer")
            optimizer.step = try group.intAttribute("step")
            try readTensors(into: optimizer.m, entries: entries, from: group.group("m"))
            try readTensors(into: optimizer.v, entries: entries, from: group.group("v"))
        }

        /// The metrics history.
        public func metrics() throws -> MetricsHistory {
            file.exists("metrics") ? try MetricsHistory(from: file.group("metrics")) : MetricsHistory()
        }

        /// The gradient-sum exponents, in the parameters' order.
        public func exponents(entries: [ParameterStore.Entry]) throws -> [Int32] {
            let names = try file.dataset("state/gradient_exponent_names").readStrings()
            guard names == entries.map(\.name) else {
                throw TrainerError("\(path): /state/gradient_exponent_names do not match the model's parameters")
            }
            return try file.read("state/gradient_exponents", as: Int32.self)
        }

        /// A string attribute of `/state`, if present.
        public func stateAttribute(_ name: String) -> String? {
            try? file.group("state").stringAttribute(name)
        }

        /// Where the dataset the checkpoint was trained on may be, most likely first: the absolute
        /// path recorded at training time (`/state` `dataset_absolute`; older checkpoints lack it),
        /// then `data.dataset` as the config gives it (`typed`): as is when absolute, else relative to
        /// the checkpoint's folder, to the folder training ran in (the checkpoint's folder less
        /// `run_dir`, when it ends with it), and to the current folder. Without duplicates.
        public func datasetCandidates(typed: String, runDirectory: String) -> [String] {
            var candidates: [String] = []
            func add(_ path: String) {
                let standardized = (path as NSString).standardizingPath
                if !candidates.contains(standardized) { candidates.append(standardized) }
            }
            if let recorded = stateAttribute("dataset_absolute"), !recorded.isEmpty { add(recorded) }
            if typed.hasPrefix("/") {
                add(typed)
                return candidates
            }
            let folder = URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent().path
            add(folder + "/" + typed)
            let runComponents = runDirectory.split(separator: "/").filter { $0 != "." }.map(String.init)
            var folderComponents = folder.split(separator: "/").map(String.init)
            if !runDirectory.hasPrefix("/"), !runComponents.isEmpty, !runComponents.contains(".."),
               folderComponents.count >= runComponents.count, Array(folderComponents.suffix(runComponents.count)) == runComponents {
                folderComponents.removeLast(runComponents.count)
                add("/" + (folderComponents + [typed]).joined(separator: "/"))
            }
            add(FileManager.default.currentDirectoryPath + "/" + typed)
            return candidates
        }

        private func readTensors(into buffer: FloatBuffer, entries: [ParameterStore.Entry], from group: HDF5Group) throws {
            let stored = Set(try group.datasetPaths())
            let expected = Set(entries.map(\.name))
            if let extra = stored.subtracting(expected).sorted().first {
                throw TrainerError("\(path): \(group.path)/\(extra) is not a parameter of this model (different model config?)")
            }
            for entry in entries {
                guard stored.contains(entry.name) else {
                    throw TrainerError("\(path): \(group.path)/\(entry.name) is missing (different model config?)")
                }
                let dataset = try group.dataset(entry.name)
                let shape = try dataset.shape
                guard shape == entry.shape else {
                    throw TrainerError("\(path): \(group.path)/\(entry.name) has shape \(shape), the model expects \(entry.shape)")
                }
                try dataset.read(into: UnsafeMutableBufferPointer(start: buffer.pointer + entry.offset, count: entry.count))
                for i in entry.offset ..< entry.offset + entry.count where !buffer[i].isFinite {
                    throw TrainerError("\(path): \(group.path)/\(entry.name) holds \(buffer[i]) at element \(i - entry.offset); a checkpoint's values must be finite")
                }
            }
        }
    }
}

extension Checkpoint {
    /// The `/state` attributes that name the dataset: `dataset` as the config gives it (kept for
    /// display and for older readers) and `dataset_absolute`, resolved against the current folder,
    /// so that `trainer eval` finds it from any folder (`Reader.datasetCandidates`).
    static func datasetState(_ dataset: String) -> [String: String] {
        let absolute = URL(fileURLWithPath: dataset).standardizedFileURL.path
        return ["dataset": dataset, "dataset_absolute": absolute]
    }

    /// Before `path` is replaced by a newer checkpoint: keeps the current one as
    /// `ckpt-<its step>.h5` next to it and deletes the oldest of those beyond `keep − 1`
    /// (`checkpoint.keep`; 1 keeps none). Nothing to do when `path` already holds `step`.
    static func archivePrevious(of path: String, beforeWritingStep step: Int, keep: Int) throws {
        guard keep > 1, FileManager.default.fileExists(atPath: path),
              let previous = try? Reader(path: path).header.step, previous != step else { return }
        let folder = (path as NSString).deletingLastPathComponent
        let archived = folder + "/ckpt-\(previous).h5"
        // A hard link, not a copy: the archive is complete the moment it exists (the next
        // checkpoint is renamed over `path`, and the link keeps the old file). Made under a
        // temporary name and renamed, so an existing archive of that step is replaced atomically.
        let temporary = folder + "/.ckpt-\(previous).h5.tmp-\(getpid())"
        unlink(temporary)
        guard link(path, temporary) == 0, rename(temporary, archived) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TrainerError("\(archived): cannot archive the previous checkpoint (\(reason))")
        }
        // rename() does nothing when both names are already links to one file (the archive was
        // made before a kill -9 and the run resumed from that checkpoint): drop the temporary name.
        unlink(temporary)
        let old = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .compactMap { name -> Int? in
                guard name.hasPrefix("ckpt-"), name.hasSuffix(".h5") else { return nil }
                return Int(name.dropFirst(5).dropLast(3))
            }.sorted()
        for stale in old.dropLast(keep - 1) { try? FileManager.default.removeItem(atPath: folder + "/ckpt-\(stale).h5") }
    }
}
