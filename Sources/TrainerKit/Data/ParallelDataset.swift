import Foundation

/// A parallel dataset written by `ParallelPrepare`: both tokenizers, and per split the CSR token
/// arrays of both sides. Offsets are read at open (they give every sentence's length, for bucketing);
/// tokens are read per sentence (hyperslabs). The train and val splits are always there; the test
/// split only in files prepared with `--test-fraction` (`hasTestSplit`; otherwise it counts 0 pairs).
public final class ParallelDataset: @unchecked Sendable {
    public enum Side: String, Sendable { case source, target }

    public let path: String
    /// The source and target tokenizers.
    public let tokenizers: TokenizerPair
    public var sourceTokenizer: Tokenizer { tokenizers.source }
    public var targetTokenizer: Tokenizer { tokenizers.target }
    private let file: HDF5File
    private var offsets: [String: [Int64]] = [:]
    private var tokens: [String: HDF5Dataset] = [:]
    /// Number of pairs per split (0 for a test split the file does not hold).
    public let counts: [TokenDataset.Split: Int]
    /// Whether the file holds a test split.
    public let hasTestSplit: Bool
    /// The longest sequence the model sees, over every split: [SOS] source [EOS] on the encoder's
    /// side, [SOS] target on the decoder's (what `model.positions: 0` resolves to).
    public let longestSequence: Int

    public init(path: String) throws {
        self.path = path
        file = try DatasetFile.open(path, kind: .parallel, for: "a translation model")
        tokenizers = try TokenizerPair(from: file.group("tokenizer"))
        guard tokenizers.source.specials != nil, tokenizers.target.specials != nil else {
            throw TrainerError("\(path): a translation dataset needs word or bpe tokenizers (with [PAD], [SOS], [EOS])")
        }
        var counts: [TokenDataset.Split: Int] = [.test: 0]
        hasTestSplit = file.exists("test")
        var longest = 0
        for split in TokenDataset.Split.allCases where split != .test || hasTestSplit {
            for side in ["source", "target"] {
                let key = "\(split.rawValue)/\(side)"
                try file.dataset(key + "/offsets").requireIntegers(in: path)
                try file.dataset(key + "/tokens").requireIntegers(in: path)
                offsets[key] = try file.read(key + "/offsets", as: Int64.self)
                tokens[key] = try file.dataset(key + "/tokens", chunkCacheBytes: 64 << 20)
            }
            counts[split] = offsets["\(split.rawValue)/source"]!.count - 1
            guard offsets["\(split.rawValue)/target"]!.count - 1 == counts[split] else {
                throw TrainerError("\(path): \(split.rawValue) has \(counts[split]!) source but \(offsets["\(split.rawValue)/target"]!.count - 1) target sentences")
            }
            for (side, extra) in [("source", 2), ("target", 1)] {
                let o = offsets["\(split.rawValue)/\(side)"]!
                for i in 0 ..< counts[split]! { longest = max(longest, Int(o[i + 1] - o[i]) + extra) }
            }
        }
        self.counts = counts
        longestSequence = longest
    }

    /// Length in tokens (without [SOS]/[EOS]) of sentence `index`.
    public func length(_ split: TokenDataset.Split, _ side: Side, _ index: Int) -> Int {
        let o = offsets["\(split.rawValue)/\(side.rawValue)"]!
        return Int(o[index + 1] - o[index])
    }

    /// The tokens of sentence `index`, checked against the vocabulary.
    public func sentence(_ split: TokenDataset.Split, _ side: Side, _ index: Int) throws -> [Int32] {
        let key = "\(split.rawValue)/\(side.rawValue)"
        let o = offsets[key]!
        let start = Int(o[index]), count = Int(o[index + 1] - o[index])
        var ids = try tokens[key]!.read(offset: [start], count: [count], as: Int32.self)
        let vocabulary = Int32((side == .source ? sourceTokenizer : targetTokenizer).count)
        for i in ids.indices where ids[i] < 0 || ids[i] >= vocabulary {
            throw TrainerError("\(path): token id \(ids[i]) of \(key) sentence \(index) is outside the vocabulary of \(vocabulary)")
        }
        ids.reserveCapacity(count + 2)
        return ids
    }

    /// The original sentences of a split (validation references).
    public func texts(_ split: TokenDataset.Split, _ side: Side) throws -> [String] {
        try file.dataset("\(split.rawValue)/\(side.rawValue)/text").readStrings()
    }

    /// What identifies the dataset (compared across ranks).
    public var identity: String {
        let digests = (try? file.stringArrayAttribute("sources_sha256")) ?? []
        return "parallel \(counts[.train]!) \(counts[.val]!) \(digests.joined(separator: ",")) \(sourceTokenizer.kind) \(sourceTokenizer.count) \(targetTokenizer.count)"
    }
}
