import CCorpus
import Foundation

/// The corpus shipped inside the trainer: eight plays of Shakespeare, public domain
/// (Resources/shakespeare.README.md says where it comes from), used when a config names no corpus.
///
/// The text is part of the binary (Sources/CCorpus embeds it when the binary is built), so a copy
/// of the binary trains the default job on a machine that has nothing else of the build. `prepare`
/// and `data.corpus` accept it by name, `builtin:shakespeare.txt`, wherever they take a file.
public enum BuiltinCorpus {
    /// The name that stands for the built-in corpus where a corpus file is expected.
    public static let shakespeareName = "builtin:shakespeare.txt"

    /// The bytes of the corpus (UTF-8 text, 1.16 MB), read-only, in the binary.
    public static var shakespeare: UnsafeRawBufferPointer {
        var count = 0
        let start = trainer_corpus_shakespeare(&count)
        return UnsafeRawBufferPointer(start: start, count: count)
    }

    /// The corpus as text.
    public static var shakespeareText: String { String(decoding: shakespeare, as: UTF8.self) }

    /// The built-in corpus called `name`, or nil when `name` names none (it is then a file path).
    public static func bytes(named name: String) -> UnsafeRawBufferPointer? {
        name == shakespeareName ? shakespeare : nil
    }

    /// A read-only stream over the built-in corpus called `name`, for the code that reads corpus
    /// files with `fread`; nil when `name` names none. Close it with `fclose`.
    static func open(_ name: String) -> UnsafeMutablePointer<FILE>? {
        guard let bytes = bytes(named: name), let start = bytes.baseAddress else { return nil }
        return fmemopen(UnsafeMutableRawPointer(mutating: start), bytes.count, "rb")
    }
}
