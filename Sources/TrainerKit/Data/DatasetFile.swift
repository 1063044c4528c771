import Foundation

/// The HDF5 dataset format, written by `trainer prepare` and read by the training tasks: the one
/// owner of its header (ARCHITECTURE.md, "Dataset").
///
///     /            attrs: format = "trainer-dataset", format_version = 1, kind = "lm" | "parallel",
///                         sources, sources_sha256, created_utc (plus max_length for parallel)
///     /tokenizer   the tokenizer (lm) or `TokenizerPair` (parallel)
///     lm:          /train/tokens, /val/tokens (`TokenWriter`, read by `TokenDataset`)
///     parallel:    /<split>/{source,target}/{tokens,offsets,text} (written by `ParallelPrepare`,
///                  read by `ParallelDataset`)
public enum DatasetFile {
    public static let format = "trainer-dataset"
    public static let version: Int64 = 1

    /// What the file holds.
    public enum Kind: String, Sendable {
        /// Token streams of a language model.
        case lm
        /// Sentence pairs of a translation model.
        case parallel
    }

    /// Writes the header attributes of a new dataset file. `sources` are the input paths, recorded
    /// absolute (a built-in corpus by its name) with their SHA-256 digests (`digests`, in the same
    /// order); none for synthetic data.
    static func writeHeader(_ file: HDF5File, kind: Kind, sources: [String] = [], digests: [String] = []) throws {
        try file.setAttribute("format", format)
        try file.setAttribute("format_version", version)
        try file.setAttribute("kind", kind.rawValue)
        guard !sources.isEmpty else { return }
        try file.setAttribute("sources", sources.map {
            BuiltinCorpus.bytes(named: $0) != nil ? $0 : URL(fileURLWithPath: $0).standardizedFileURL.path
        })
        try file.setAttribute("sources_sha256", digests)
        try file.setAttribute("created_utc", ISO8601DateFormatter().string(from: Date()))
    }

    /// Opens the dataset at `path` for reading, checking that it is one of this format, version and
    /// `kind`; `purpose` names what needs that kind in the error ("a language model").
    static func open(_ path: String, kind: Kind, for purpose: String) throws -> HDF5File {
        let file = try HDF5File(path: path, mode: .readOnly)
        let found = (try? file.stringAttribute("format")) ?? "none"
        guard found == format else {
            throw TrainerError("\(path): not a trainer dataset (format '\(found)'); make one with `trainer prepare`")
        }
        let version = try file.intAttribute("format_version")
        guard version == self.version else { throw TrainerError("\(path): dataset format_version \(version), this trainer reads \(self.version)") }
        let actual = try file.stringAttribute("kind")
        guard actual == kind.rawValue else { throw TrainerError("\(path): a '\(actual)' dataset, but \(purpose) needs '\(kind.rawValue)'") }
        return file
    }

    /// A dataset of uniformly random tokens (a char tokenizer over `vocabulary` printable characters).
    /// (`trainer bench step`'s data.)
    static func writeSyntheticLanguageModel(path: String, vocabulary: Int, tokens: Int) throws {
        let file = try HDF5File(path: path, mode: .truncate)
        try writeHeader(file, kind: .lm)
        let scalars = Set((0 ..< vocabulary).map { UInt32(0x21 + $0) })
        try CharTokenizer(scalars: scalars).write(to: file.createGroup("tokenizer"))
        var random = SplitMix(seed: 7)
        for split in ["train", "val"] {
            let ids = (0 ..< tokens).map { _ in UInt16(random.next() % UInt64(vocabulary)) }
            try file.write("\(split)/tokens", ids, chunk: [1 << 16], deflate: 1)
        }
        try file.close()
    }
}
