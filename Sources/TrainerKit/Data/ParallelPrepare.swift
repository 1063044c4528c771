import Foundation

/// Options of `trainer prepare` for parallel corpora.
public struct ParallelPrepareOptions: Sendable {
    /// "word" or "bpe".
    public var tokenizer = "word"
    /// BPE: the target vocabulary size (per side, or shared); word: a cap on the vocabulary (0: none).
    public var vocabularySize = 0
    /// Word: the least count a word needs to enter the vocabulary (the seed's 2). BPE: of a merge.
    public var minimumFrequency = 2
    /// One vocabulary for both languages instead of one each.
    public var sharedVocabulary = false
    /// Longest sequence kept, counting [SOS] and [EOS]; longer pairs are dropped and counted.
    public var maximumLength = 128
    /// Fraction of the pairs kept for validation (drawn by a seeded shuffle).
    public var validationFraction = 0.1
    /// Fraction of the pairs held out as a test split (drawn by the same shuffle, after the
    /// validation pairs); 0 writes no test split.
    public var testFraction = 0.0
    /// Seed of the shuffle that picks the validation pairs.
    public var seed: UInt64 = 1337

    public init() {}
}

/// `trainer prepare` for parallel corpora: a TSV file (source<TAB>target per line, the
/// Tatoeba/ManyThings format; further columns are ignored) or a pair of aligned files (Moses style,
/// train.en + train.it) → an HDF5 `parallel` dataset (ARCHITECTURE.md, "Dataset"):
///
///     /tokenizer                  attrs: shared ("true"/"false"), kind; when shared the tokenizer itself,
///                                 else groups source/ and target/, each a tokenizer
///     /<split>/source/tokens      1-D uint16 (uint32 above 65535 tokens), chunked + deflate
///     /<split>/source/offsets     int64, pairs + 1: sentence i = tokens[offsets[i] ..< offsets[i+1]]
///     /<split>/target/tokens, /<split>/target/offsets        the same for the targets
///     /<split>/source/text, /<split>/target/text             the original sentences (BLEU references)
///
/// The splits are train and val, and test when `testFraction` > 0 (older files have none). The
/// pairs are shuffled with a seeded shuffle; the first `validationFraction` of them are the
/// validation split, the next `testFraction` the test split, the rest the training split (so a
/// test split leaves the validation pairs as they were). Token sequences are stored without
/// [SOS]/[EOS]; the model adds them.
public enum ParallelPrepare {
    /// What `prepare` did.
    public struct Report: Sendable {
        public var output: String
        public var lines = 0, empty = 0, malformed = 0, tooLong = 0
        public var trainPairs = 0, validationPairs = 0, testPairs = 0
        /// Whether a test split was written.
        public var hasTestSplit = false
        public var sourceVocabulary = 0, targetVocabulary = 0
        public var seconds = 0.0

        /// An empty report for `output`.
        public init(output: String) { self.output = output }

        public var description: String {
            String(format: "prepared %@: %d train + %d val%@ pairs from %d lines (dropped: %d longer than the limit, %d empty, %d malformed); vocabularies %d source, %d target; %.2f s",
                   output, trainPairs, validationPairs, hasTestSplit ? " + \(testPairs) test" : "", lines, tooLong, empty, malformed,
                   sourceVocabulary, targetVocabulary, seconds)
        }
    }

    /// Reads sentence pairs: from one TSV file, or two aligned files. Counts empty and malformed lines.
    static func readPairs(_ inputs: [String], report: inout Report) throws -> [(String, String)] {
        try readNumberedPairs(inputs, report: &report).map { ($0.source, $0.target) }
    }

    /// `readPairs` with each pair's line number (from 1); errors start with `command`.
    public static func readNumberedPairs(_ inputs: [String], report: inout Report, command: String = "prepare") throws
        -> [(line: Int, source: String, target: String)] {
        func lines(_ path: String) throws -> [Substring] {
            guard FileManager.default.fileExists(atPath: path) else { throw TrainerError("\(command): \(path): no such file") }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                throw TrainerError("\(command): \(path): a directory, not a corpus file")
            }
            guard let data = FileManager.default.contents(atPath: path) else { throw TrainerError("\(command): \(path): cannot be read") }
            try UTF8Scanner.requireText(data, path: path, command: command)
            let text = String(decoding: data, as: UTF8.self)
            // "\r\n" is one Character in Swift: split on both line endings.
            var result = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
            if result.last == "" { result.removeLast() }
            return result
        }
        var pairs: [(line: Int, source: String, target: String)] = []
        switch inputs.count {
        case 1:
            for line in try lines(inputs[0]) {
                report.lines += 1
                let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
                guard columns.count >= 2 else {
                    report.malformed += 1
                    continue
                }
                let source = columns[0].trimmingCharacters(in: .whitespaces), target = columns[1].trimmingCharacters(in: .whitespaces)
                if source.isEmpty || target.isEmpty {
                    report.empty += 1
                    continue
                }
                pairs.append((report.lines, source, target))
            }
        case 2:
            let sources = try lines(inputs[0]), targets = try lines(inputs[1])
            guard sources.count == targets.count else {
                throw TrainerError("\(command): \(inputs[0]) has \(sources.count) lines but \(inputs[1]) has \(targets.count); aligned files need one sentence per line each")
            }
            for (source, target) in zip(sources, targets) {
                report.lines += 1
                let s = source.trimmingCharacters(in: .whitespaces), t = target.trimmingCharacters(in: .whitespaces)
                if s.isEmpty || t.isEmpty {
                    report.empty += 1
                    continue
                }
                pairs.append((report.lines, s, t))
            }
        default:
            throw TrainerError("\(command): a parallel corpus is one TSV file or two aligned files, got \(inputs.count) inputs")
        }
        guard !pairs.isEmpty else { throw TrainerError("\(command): \(inputs.joined(separator: ", ")): no sentence pairs") }
        return pairs
    }

    static func trainTokenizer(_ texts: [String], _ options: ParallelPrepareOptions) throws -> Tokenizer {
        switch options.tokenizer {
        case "word":
            return WordTokenizer.train(texts: texts, minimumFrequency: options.minimumFrequency,
                                       maximumSize: options.vocabularySize > 0 ? options.vocabularySize : nil)
        case "bpe":
            guard options.vocabularySize > 260 else {
                throw TrainerError("prepare: --tokenizer bpe needs --vocab-size above 260 (4 special tokens + 256 bytes), got \(options.vocabularySize)")
            }
            return BPETokenizer.train(texts: texts, vocabularySize: options.vocabularySize, minimumFrequency: options.minimumFrequency,
                                     progress: ProgressLine(unit: "merges"))
        default:
            throw TrainerError("prepare: --tokenizer \(options.tokenizer) cannot tokenize a parallel corpus (use word or bpe)")
        }
    }

    public static func prepare(inputs: [String], output: String, options: ParallelPrepareOptions) throws -> Report {
        let start = Date()
        var report = Report(output: output)
        guard options.maximumLength >= 3 else { throw TrainerError("prepare: --max-length \(options.maximumLength) must be at least 3") }
        for (name, fraction) in [("--val-fraction", options.validationFraction), ("--test-fraction", options.testFraction)]
        where !(fraction >= 0 && fraction < 1) {
            throw TrainerError("prepare: \(name) \(fraction) must be in [0, 1)")
        }
        guard options.validationFraction + options.testFraction < 1 else {
            throw TrainerError("prepare: --val-fraction \(options.validationFraction) and --test-fraction \(options.testFraction) leave no training pairs; their sum must be below 1")
        }
        var pairs = try readPairs(inputs, report: &report)
        // A seeded shuffle, then the first pairs for validation and the next for the test split.
        var random = SplitMix(seed: options.seed)
        for i in stride(from: pairs.count - 1, to: 0, by: -1) { pairs.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        let validationCount = Int((Double(pairs.count) * options.validationFraction).rounded())
        let testCount = min(pairs.count - validationCount, Int((Double(pairs.count) * options.testFraction).rounded()))
        report.hasTestSplit = options.testFraction > 0
        var splits = [("train", Array(pairs[(validationCount + testCount)...])), ("val", Array(pairs[..<validationCount]))]
        if report.hasTestSplit { splits.append(("test", Array(pairs[validationCount ..< validationCount + testCount]))) }
        // Tokenizers are trained on the training pairs only.
        let trainPairs = splits[0].1
        let sourceTokenizer: Tokenizer, targetTokenizer: Tokenizer
        if options.sharedVocabulary {
            sourceTokenizer = try trainTokenizer(trainPairs.flatMap { [$0.0, $0.1] }, options)
            targetTokenizer = sourceTokenizer
        } else {
            sourceTokenizer = try trainTokenizer(trainPairs.map(\.0), options)
            targetTokenizer = try trainTokenizer(trainPairs.map(\.1), options)
        }
        report.sourceVocabulary = sourceTokenizer.count
        report.targetVocabulary = targetTokenizer.count
        try AtomicFile.write(to: output) { temporary in
            let file = try HDF5File(path: temporary, mode: .truncate)
            try DatasetFile.writeHeader(file, kind: .parallel, sources: inputs, digests: try inputs.map(sha256OfFile))
            try file.setAttribute("max_length", Int64(options.maximumLength))
            try TokenizerPair(source: sourceTokenizer, target: targetTokenizer, shared: options.sharedVocabulary)
                .write(to: file.createGroup("tokenizer"))
            for (split, splitPairs) in splits {
                var sources: [[Int32]] = [], targets: [[Int32]] = [], texts: [(String, String)] = []
                for (source, target) in splitPairs {
                    let s = sourceTokenizer.encode(source), t = targetTokenizer.encode(target)
                    if s.count + 2 > options.maximumLength || t.count + 2 > options.maximumLength || s.isEmpty || t.isEmpty {
                        report.tooLong += s.isEmpty || t.isEmpty ? 0 : 1
                        report.empty += s.isEmpty || t.isEmpty ? 1 : 0
                        continue
                    }
                    sources.append(s)
                    targets.append(t)
                    texts.append((source, target))
                }
                try writeSide(file, split: split, side: "source", sequences: sources, texts: texts.map(\.0),
                              vocabulary: sourceTokenizer.count)
                try writeSide(file, split: split, side: "target", sequences: targets, texts: texts.map(\.1),
                              vocabulary: targetTokenizer.count)
                switch split {
                case "train": report.trainPairs = sources.count
                case "val": report.validationPairs = sources.count
                default: report.testPairs = sources.count
                }
            }
            guard report.trainPairs > 0 else {
                throw TrainerError("prepare: no training pair is within --max-length \(options.maximumLength)")
            }
            try file.close()
        }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    static func writeSide(_ file: HDF5File, split: String, side: String, sequences: [[Int32]], texts: [String],
                          vocabulary: Int) throws {
        var offsets: [Int64] = [0]
        offsets.reserveCapacity(sequences.count + 1)
        for sequence in sequences { offsets.append(offsets.last! + Int64(sequence.count)) }
        let tokens = sequences.flatMap { $0 }
        let chunk = [max(1, min(1 << 16, tokens.count))]
        if vocabulary > Int(UInt16.max) {
            try file.write("\(split)/\(side)/tokens", tokens.map { UInt32(bitPattern: $0) }, chunk: chunk, deflate: 1)
        } else {
            try file.write("\(split)/\(side)/tokens", tokens.map { UInt16(truncatingIfNeeded: $0) }, chunk: chunk, deflate: 1)
        }
        try file.write("\(split)/\(side)/offsets", offsets, chunk: [max(1, min(1 << 16, offsets.count))], deflate: 1)
        try file.writeStrings("\(split)/\(side)/text", texts)
    }

    static func sha256OfFile(_ path: String) throws -> String {
        var hash = SHA256()
        try Prepare.stream(path, chunkBytes: Prepare.defaultChunkBytes) { bytes, _ in
            hash.update(UnsafeRawBufferPointer(bytes))
            return bytes.count
        }
        return hash.hexDigest()
    }
}
