import Foundation

/// `trainer export`: a checkpoint's weights as a folder the PyTorch / Hugging Face ecosystem
/// reads: `model.safetensors` (the parameters, float32), the tokenizer's files
/// (`HuggingFaceTokenizer`), and with GPT-2's names (`HuggingFaceGPT2`) a `config.json`, which
/// makes the folder a `transformers` model.
///
/// The folder is written under a temporary name next to the output and renamed into place, so a
/// failure or a crash never leaves a half-written export. An existing non-empty output is
/// replaced only when asked, and only if it holds nothing but the files an export writes.
public enum ModelExport {
    /// The file formats (one so far).
    public enum Format: String, CaseIterable, Sendable {
        /// `model.safetensors` (`SafeTensors`).
        case safetensors
    }

    /// The names the tensors get.
    public enum Names: String, CaseIterable, Sendable {
        /// Ours with '.' for '/' (`blocks.0.attention.query.weight`): the PyTorch module paths of
        /// the seed models, every Linear weight [out, in]. Any checkpoint.
        case trainer
        /// Hugging Face GPT-2's (`transformer.h.0.attn.c_attn.weight`), plus `config.json`: a GPT
        /// with `activation: gelu_tanh` and tied embeddings.
        case huggingfaceGPT2 = "huggingface-gpt2"
    }

    /// What an export wrote.
    public struct Summary: Sendable {
        /// The output folder.
        public var folder: String
        /// The files in it, relative to it, in writing order.
        public var files: [String]
        /// Tensors and scalars in `model.safetensors`.
        public var tensors: Int, scalars: Int
        /// The checkpoint's step.
        public var step: Int
        /// What the tokenizer files do not reproduce, if anything.
        public var notes: [String]

        /// The lines `trainer export` prints.
        public var lines: [String] {
            ["exported \(tensors) tensors (\(scalars) parameters, step \(step)) to \(folder): \(files.joined(separator: ", "))"]
                + notes.map { "note: " + $0 }
        }
    }

    /// The names of the files and folders an export writes at the top of its folder.
    static let writtenNames: Set<String> = [
        "model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
        "source_tokenizer", "target_tokenizer",
    ]

    /// The output folder when none is given: next to the checkpoint, `<stem>-safetensors`
    /// (`<stem>-huggingface-gpt2` with GPT-2's names).
    public static func defaultOutput(checkpoint: String, names: Names) -> String {
        (checkpoint as NSString).deletingPathExtension + "-" + (names == .trainer ? Format.safetensors.rawValue : names.rawValue)
    }

    /// Exports the checkpoint at `path` into the folder `output` (see the type's summary).
    /// - Throws: `TrainerError` naming the checkpoint, the setting or the output that is wrong.
    public static func export(checkpoint path: String, names: Names, output: String, overwrite: Bool = false) throws -> Summary {
        try checkOutput(output, overwrite: overwrite)
        let trained = try TrainedModel(checkpoint: path)
        let header = trained.reader.header, sizes = trained.config.resolvedModel
        if names == .huggingfaceGPT2 { try HuggingFaceGPT2.requireCompatible(sizes, source: path) }
        var textFiles: [(name: String, contents: String)] = []
        let store: ParameterStore
        var notes: [String] = []
        func addTokenizer(_ tokenizer: Tokenizer, folder: String?) {
            let prefix = folder.map { $0 + "/" } ?? ""
            textFiles += HuggingFaceTokenizer.files(for: tokenizer, maximumLength: sizes.positions)
                .map { (prefix + $0.name, $0.contents) }
            if tokenizer is WordTokenizer {
                notes.append("\(prefix)tokenizer.json encodes as the word tokenizer does, but its decoding joins the pieces with spaces (ours attaches punctuation)")
            }
        }
        var specials: SpecialTokens?, vocabulary = 0
        switch sizes.kind {
        case .gpt:
            let tokenizer = try trained.reader.tokenizer()
            store = GPTModel.layout(sizes, vocabulary: tokenizer.count).makeStore()
            (specials, vocabulary) = (tokenizer.specials, tokenizer.count)
            addTokenizer(tokenizer, folder: nil)
        case .seq2seq:
            let pair = try TokenizerPair(from: trained.reader.file.group("tokenizer"))
            store = Seq2SeqModel.layout(sizes, sourceVocabulary: pair.source.count, targetVocabulary: pair.target.count)
                .makeStore()
            if pair.shared {
                addTokenizer(pair.source, folder: nil)
            } else {
                addTokenizer(pair.source, folder: "source_tokenizer")
                addTokenizer(pair.target, folder: "target_tokenizer")
            }
        }
        try trained.reader.loadParameters(into: store)
        let tensors: [SafeTensors.Tensor]
        switch names {
        case .trainer:
            tensors = store.entries.map { entry in
                SafeTensors.Tensor(name: entry.name.replacingOccurrences(of: "/", with: "."), shape: entry.shape,
                                   values: Array(UnsafeBufferPointer(start: store.values.pointer + entry.offset, count: entry.count)))
            }
        case .huggingfaceGPT2:
            tensors = try HuggingFaceGPT2.tensors(store, config: sizes)
            textFiles.insert(("config.json", HuggingFaceGPT2.configuration(sizes, vocabulary: vocabulary, specials: specials).pretty),
                             at: 0)
        }
        let metadata = [
            "format": "pt",  // what transformers expects of a PyTorch model's file
            "trainer.checkpoint": (path as NSString).lastPathComponent,
            "trainer.names": names.rawValue,
            "trainer.model_kind": header.modelKind,
            "trainer.step": String(header.step),
            "trainer.tokens_seen": String(header.tokensSeen),
            "trainer.seed": String(header.seed),
            "trainer.config": header.config,
        ]
        try writeFolder(output) { folder in
            try SafeTensors.write(tensors, metadata: metadata, to: folder + "/model.safetensors")
            for file in textFiles { try writeText(file.contents, to: folder + "/" + file.name) }
        }
        return Summary(folder: output, files: ["model.safetensors"] + textFiles.map(\.name), tensors: tensors.count,
                       scalars: store.count, step: header.step, notes: notes)
    }

    /// Throws if `output` cannot receive an export: a file, or a non-empty folder without
    /// `overwrite`, or one that holds something an export does not write.
    static func checkOutput(_ output: String, overwrite: Bool) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw TrainerError("\(output): exists and is not a folder; choose another --output") }
        guard let contents = try? FileManager.default.contentsOfDirectory(atPath: output) else {
            throw TrainerError("\(output): cannot list this folder (\(String(cString: strerror(errno))))")
        }
        if contents.isEmpty { return }
        guard overwrite else {
            throw TrainerError("\(output): already exists; pass --overwrite to replace it, or choose another --output")
        }
        if let foreign = contents.sorted().first(where: { !writtenNames.contains($0) }) {
            throw TrainerError("\(output): holds \(foreign), which an export does not write; --overwrite replaces only the folder of an earlier export, so choose another --output")
        }
    }

    /// Calls `body` with a new temporary folder next to `output`, then renames it to `output`
    /// (replacing a previous export, which `checkOutput` allowed). On any error the temporary
    /// folder is removed and `output` is left as it was.
    static func writeFolder(_ output: String, _ body: (String) throws -> Void) throws {
        let manager = FileManager.default
        let url = URL(fileURLWithPath: output)
        let parent = url.deletingLastPathComponent().path, name = url.lastPathComponent
        let temporary = parent + "/." + name + ".tmp-\(getpid())", previous = parent + "/." + name + ".old-\(getpid())"
        do {
            try? manager.removeItem(atPath: temporary)
            try manager.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        } catch {
            throw TrainerError("\(output): cannot create a folder next to it (\(error.localizedDescription))")
        }
        do {
            try body(temporary)
            var isDirectory: ObjCBool = false
            let replacing = manager.fileExists(atPath: output, isDirectory: &isDirectory) && isDirectory.boolValue
                && !((try? manager.contentsOfDirectory(atPath: output))?.isEmpty ?? true)
            if replacing {
                guard rename(output, previous) == 0 else {
                    throw TrainerError("\(output): cannot move the previous export aside (\(String(cString: strerror(errno))))")
                }
            }
            guard rename(temporary, output) == 0 else {
                let reason = String(cString: strerror(errno))
                if replacing { rename(previous, output) }
                throw TrainerError("\(output): cannot move the export into place (\(reason))")
            }
            if replacing { try? manager.removeItem(atPath: previous) }
            try? AtomicFile.sync(parent)
        } catch {
            try? manager.removeItem(atPath: temporary)
            if let error = error as? TrainerError {
                throw TrainerError(error.message.replacingOccurrences(of: temporary, with: output))
            }
            throw error
        }
    }

    /// Writes `text` (UTF-8) to `path` atomically, creating its folder if needed.
    static func writeText(_ text: String, to path: String) throws {
        try AtomicFile.write(to: path) { temporary in
            guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8)) else {
                throw TrainerError("\(path): cannot write (\(String(cString: strerror(errno))))")
            }
        }
    }
}
