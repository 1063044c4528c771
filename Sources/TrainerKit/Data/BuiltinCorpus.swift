import Foundation

/// The corpus shipped with the trainer: eight plays of Shakespeare, public domain
/// (Resources/shakespeare.README.md says where it comes from), used when a config names no corpus.
public enum BuiltinCorpus {
    /// Path of the shipped text file.
    public static var shakespearePath: String {
        get throws {
            guard let url = Bundle.module.url(forResource: "shakespeare", withExtension: "txt") else {
                throw TrainerError("the built-in corpus shakespeare.txt is missing from the trainer's resources; set data.corpus")
            }
            return url.path
        }
    }
}
