import Foundation

/// A language-model dataset written by `trainer prepare` (kind "lm"): the tokenizer and the train
/// and validation token streams. Batches are read as hyperslabs: a rank reads only its sequences.
public final class TokenDataset: @unchecked Sendable {
    /// A part of a dataset: training, validation, and (parallel datasets prepared with
    /// `--test-fraction` only) a held-out test split.
    public enum Split: String, Sendable, CaseIterable {
        case train, val, test

        /// The splits a language-model dataset holds.
        public static let languageModel: [Split] = [.train, .val]
    }

    public let path: String
    public let tokenizer: Tokenizer
    private let file: HDF5File
    private let streams: [Split: HDF5Dataset]
    /// Number of tokens in each split.
    public let counts: [Split: Int]

    /// Opens and checks a dataset file.
    public init(path: String) throws {
        self.path = path
        file = try DatasetFile.open(path, kind: .lm, for: "a language model")
        tokenizer = try Tokenizers.read(from: file.group("tokenizer"))
        var streams: [Split: HDF5Dataset] = [:], counts: [Split: Int] = [:]
        for split in Split.languageModel {
            // A large chunk cache: random sequences hit the same compressed chunks again and again.
            let dataset = try file.dataset("\(split.rawValue)/tokens", chunkCacheBytes: 256 << 20)
            try dataset.requireIntegers(in: path)
            streams[split] = dataset
            counts[split] = try dataset.count
        }
        self.streams = streams
        self.counts = counts
    }

    /// What identifies the dataset's contents: token counts, the sources' SHA-256 and the
    /// vocabulary (cheap: no pass over the tokens).
    public var identity: String {
        let digests = (try? file.stringArrayAttribute("sources_sha256")) ?? []
        return "lm \(counts[.train]!) \(counts[.val]!) \(digests.joined(separator: ",")) \(tokenizer.kind) \(tokenizer.vocabulary.joined(separator: "\u{1}"))"
    }

    /// Reads tokens `offset ..< offset + count` of `split` into `destination`, checking that every id
    /// is inside the vocabulary.
    public func read(_ split: Split, offset: Int, count: Int, into destination: UnsafeMutablePointer<Int32>) throws {
        try streams[split]!.read(into: UnsafeMutableBufferPointer(start: destination, count: count), offset: [offset], count: [count])
        let vocabulary = Int32(tokenizer.count)
        for i in 0 ..< count where destination[i] < 0 || destination[i] >= vocabulary {
            throw TrainerError("\(path): token id \(destination[i]) at \(split.rawValue)[\(offset + i)] is outside the vocabulary of \(vocabulary)")
        }
    }

    /// Fills `inputs` and `targets` (each `sequences × length`) with random windows of `split`:
    /// sequence j starts at an offset drawn from `stream` at position j, so a micro-batch depends
    /// only on its stream (seed, step, micro-batch), never on which rank reads it.
    public func sample(_ split: Split, sequences: Int, length T: Int, stream: RandomStream,
                       inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) throws {
        let region = StepProfile.begin("data (sequences from HDF5)")
        defer { StepProfile.end(region) }
        let available = counts[split]! - T
        guard available > 0 else {
            throw TrainerError("\(path): the \(split.rawValue) split has \(counts[split]!) tokens, fewer than block_size + 1 = \(T + 1)")
        }
        let window = UnsafeMutablePointer<Int32>.allocate(capacity: T + 1)
        defer { window.deallocate() }
        for j in 0 ..< sequences {
            let offset = stream.integer(j, below: available)
            try read(split, offset: offset, count: T + 1, into: window)
            (inputs + j * T).update(from: window, count: T)
            (targets + j * T).update(from: window + 1, count: T)
        }
    }
}
