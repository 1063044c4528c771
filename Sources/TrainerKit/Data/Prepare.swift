import Foundation

/// `trainer prepare`: text corpora → HDF5 datasets (ARCHITECTURE.md, "Dataset").
public enum Prepare {
    /// What `prepareLanguageModel` did, for the report.
    public struct Report: Sendable {
        public var output: String
        public var vocabulary: Int
        public var trainTokens: Int
        public var validationTokens: Int
        public var bytes: Int
        public var seconds: Double
        /// Time spent turning bytes into token ids alone (both passes' scanning, no I/O).
        public var tokenizingSeconds: Double
        /// With a given tokenizer: characters outside its vocabulary, skipped, most frequent first.
        public var unknown: [(character: String, count: Int)] = []
    }

    /// Bytes read per chunk when streaming a corpus.
    public static let defaultChunkBytes = 4 << 20

    /// A character-level language-model dataset from `inputs` (concatenated in order): the first
    /// `1 − validationFraction` of the tokens for training, the rest for validation (nanoGPT's
    /// split). Streams the input twice (vocabulary, then tokens), so corpora need not fit in memory.
    /// The output appears atomically; an existing file is replaced only when the new one is complete.
    /// With `tokenizer` (a checkpoint's, `--tokenizer-from`) the vocabulary is that one, and
    /// characters outside it are skipped and counted, so that the dataset fits the checkpoint.
    public static func prepareLanguageModel(
        inputs: [String], output: String, validationFraction: Double = 0.1, tokenizer given: CharTokenizer? = nil,
        progress: ProgressLine? = nil, chunkBytes: Int = defaultChunkBytes
    ) throws -> Report {
        guard !inputs.isEmpty else { throw TrainerError("prepare: no --input given") }
        guard validationFraction >= 0 && validationFraction < 1 else {
            throw TrainerError("prepare: --val-fraction \(validationFraction) must be in [0, 1)")
        }
        let start = Date()
        var totalBytes = 0
        for path in inputs {
            if let builtin = BuiltinCorpus.bytes(named: path) {
                totalBytes += builtin.count
                continue
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw TrainerError("prepare: \(path): no such file")
            }
            guard !isDirectory.boolValue else { throw TrainerError("prepare: \(path): a directory, not a corpus file") }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            guard size > 0 else { throw TrainerError("prepare: \(path): empty corpus (0 bytes)") }
            totalBytes += size
        }

        // Pass 1: the vocabulary, the token count and each file's SHA-256.
        var ascii = [Bool](repeating: false, count: 128), others = Set<UInt32>()
        var tokenCount = 0
        var digests: [String] = []
        var unknown: [UInt32: Int] = [:], scratch: [Int32] = []
        progress?.begin("prepare: vocabulary", total: Double(totalBytes))
        for path in inputs {
            var hash = SHA256()
            var fileOffset = 0
            try stream(path, chunkBytes: chunkBytes) { bytes, isLast in
                // Only UTF-8 text: an invalid byte or a NUL stops prepare with its offset.
                if let bad = UTF8Scanner.firstInvalid(bytes, isLast: isLast) {
                    throw UTF8Scanner.notText(path, bytes: bytes, at: bad, fileOffset: fileOffset, command: "prepare")
                }
                let consumed: Int, count: Int
                if let given {
                    scratch.removeAll(keepingCapacity: true)
                    consumed = try given.encode(utf8: bytes, into: &scratch) { unknown[$0, default: 0] += 1 }
                    count = scratch.count
                } else {
                    (consumed, count) = UTF8Scanner.collect(bytes, ascii: &ascii, others: &others)
                }
                hash.update(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[..<consumed])))
                tokenCount += count
                fileOffset += consumed
                progress?.advance(Double(consumed))
                return consumed
            }
            digests.append(hash.hexDigest())
        }
        progress?.end()
        var scalars = others
        for (byte, present) in ascii.enumerated() where present { scalars.insert(UInt32(byte)) }
        let tokenizer = given ?? CharTokenizer(scalars: scalars)
        guard tokenCount >= 2 else {
            throw TrainerError("prepare: \(inputs.joined(separator: ", ")): fewer than 2 characters in the tokenizer's vocabulary")
        }
        let trainCount = Int(Double(tokenCount) * (1 - validationFraction))

        // Pass 2: tokens, appended in chunks to the train then the validation dataset.
        var tokenizing = 0.0
        try AtomicFile.write(to: output) { temporary in
            let file = try HDF5File(path: temporary, mode: .truncate)
            try DatasetFile.writeHeader(file, kind: .lm, sources: inputs, digests: digests)
            try tokenizer.write(to: file.createGroup("tokenizer"))
            let writer = try TokenWriter(file: file, vocabulary: tokenizer.count, splits: ["train", "val"])
            var written = 0
            var ids: [Int32] = []
            ids.reserveCapacity(chunkBytes)
            progress?.begin("prepare: tokens", total: Double(totalBytes))
            for path in inputs {
                try stream(path, chunkBytes: chunkBytes) { bytes, isLast in
                    ids.removeAll(keepingCapacity: true)
                    var consumed: Int
                    let encodeStart = DispatchTime.now().uptimeNanoseconds
                    do {
                        consumed = try tokenizer.encode(utf8: bytes, into: &ids, unknown: given == nil ? nil : { _ in })
                    } catch {
                        throw TrainerError("prepare: \(path): \(error)")
                    }
                    tokenizing += Double(DispatchTime.now().uptimeNanoseconds - encodeStart) / 1e9
                    if isLast && consumed < bytes.count {  // cannot happen: pass 1 accepted only UTF-8
                        if let replacement = tokenizer.id(of: 0xFFFD) { ids.append(replacement) }
                        consumed = bytes.count
                    }
                    let toTrain = max(0, min(ids.count, trainCount - written))
                    try writer.append(ids[0 ..< toTrain], to: 0)
                    try writer.append(ids[toTrain...], to: 1)
                    written += ids.count
                    progress?.advance(Double(consumed))
                    return consumed
                }
            }
            progress?.end()
            try writer.finish()
            try file.setAttribute("tokens", Int64(written))
            try file.close()
        }
        return Report(output: output, vocabulary: tokenizer.count, trainTokens: trainCount,
                      validationTokens: tokenCount - trainCount, bytes: totalBytes, seconds: Date().timeIntervalSince(start),
                      tokenizingSeconds: tokenizing,
                      unknown: UnknownCharacters.ranked(Dictionary(unknown.map { (String(UnicodeScalar($0.key)!), $0.value) },
                                                                uniquingKeysWith: +)))
    }

    /// Reads `path` (a file, or the name of a built-in corpus) in chunks; `body(bytes, isLast)` returns
    /// how many bytes it consumed, and the rest (an incomplete UTF-8 sequence) is carried into the next chunk.
    static func stream(_ path: String, chunkBytes: Int, _ body: (UnsafeBufferPointer<UInt8>, Bool) throws -> Int) throws {
        guard let file = BuiltinCorpus.open(path) ?? fopen(path, "rb") else {
            throw TrainerError("prepare: \(path): cannot open (\(String(cString: strerror(errno))))")
        }
        defer { fclose(file) }
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: chunkBytes + 8)
        defer { buffer.deallocate() }
        var carried = 0
        while true {
            let read = fread(buffer + carried, 1, chunkBytes, file)
            if read == 0 && ferror(file) != 0 { throw TrainerError("prepare: \(path): read error") }
            let available = carried + read
            let isLast = read == 0 || feof(file) != 0
            let consumed = try body(UnsafeBufferPointer(start: buffer, count: available), isLast)
            carried = available - consumed
            if carried > 0 { (buffer).update(from: buffer + consumed, count: carried) }
            if isLast { break }
        }
    }
}

extension Prepare {
    /// One line about a finished `prepare`.
    public static func describe(_ report: Report) -> String {
        var line = String(format: "prepared %@: %d tokens in the vocabulary, %d train + %d val tokens, %.1f MB in %.2f s (%.1f MB/s end to end; tokenizing alone %.0f MB/s on one core)",
               report.output, report.vocabulary, report.trainTokens, report.validationTokens, Double(report.bytes) / 1e6,
               report.seconds, Double(report.bytes) / 1e6 / max(report.seconds, 1e-9),
               Double(report.bytes) / 1e6 / max(report.tokenizingSeconds, 1e-9))
        line += UnknownCharacters.note(report.unknown)
        return line
    }
}
