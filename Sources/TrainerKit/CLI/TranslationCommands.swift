import Foundation

/// The translation commands: parallel-corpus preparation, `translate` and `attention`.
extension Commands {
    /// `trainer prepare` for parallel corpora.
    public static func prepareParallel(inputs: [String], output: String, options: ParallelPrepareOptions) throws {
        say(try ParallelPrepare.prepare(inputs: inputs, output: output, options: options).description)
    }

    /// `trainer prepare --generate toy-en-it`: the toy corpus as a TSV file.
    public static func generateToyCorpus(output: String, pairs: Int) throws {
        try (ToyTranslation.corpus(count: pairs).joined(separator: "\n") + "\n").write(toFile: output, atomically: true, encoding: .utf8)
        say("wrote \(pairs) English<TAB>Italian pairs to \(output)")
    }

    /// Lines of standard input translated together when it is a file or a pipe (a terminal is
    /// translated line by line, as typed).
    public static let translationChunk = 64

    /// `trainer translate`: sentences from the arguments, or one per standard-input line, read
    /// `translationChunk` lines at a time and translated as one batch (`translateInLengthOrder`),
    /// the output written in input order after each chunk (arguments are cut into the same
    /// chunks). Inputs longer than the model's positions are cut to fit, and counted in one line
    /// on standard error at the end (and with `timing` the speed). While standard output is not a terminal, a
    /// terminal on standard error shows progress (`ProgressLine`; the share and time left of a
    /// file on standard input are estimated from the bytes read).
    public static func translate(checkpoint: String, sentences: [String], beam: Int, lengthPenalty: Double,
                                 useCache: Bool = true, timing: Bool = false, threads: Int) throws {
        let translator = try TrainedModel(checkpoint: checkpoint).translator(batch: 16 * max(1, beam), threads: threads,
                                                                             for: "translate")
        translator.useCache = useCache
        let start = DispatchTime.now().uptimeNanoseconds
        let progress = ProgressLine(unit: "sentences", write: isatty(STDOUT_FILENO) != 0 ? nil : ProgressLine.terminalWriter)
        var truncated: [Int] = [], count = 0
        func translateChunk(_ lines: [String], firstNumber: Int) {
            let ids = lines.map { translator.sourceTokenizer.encode($0) }
            truncated += truncatedInputs(ids, translator: translator).map { firstNumber + $0 }
            let outputs = translator.translateInLengthOrder(ids: ids, beam: beam, lengthPenalty: lengthPenalty)
                .map { translator.targetTokenizer.decode($0) + "\n" }
            FileHandle.standardOutput.write(Data(outputs.joined().utf8))
            count += lines.count
            progress.advance(Double(lines.count))
        }
        if !sentences.isEmpty {
            progress.begin("translate", total: Double(sentences.count))
            for start in stride(from: 0, to: sentences.count, by: translationChunk) {
                translateChunk(Array(sentences[start ..< min(sentences.count, start + translationChunk)]), firstNumber: start + 1)
            }
        } else {
            var status = stat()
            let fileBytes = fstat(STDIN_FILENO, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG ? Double(status.st_size) : 0
            progress.begin("translate", total: nil)
            let chunk = isatty(STDIN_FILENO) != 0 ? 1 : translationChunk
            var lines: [String] = [], next = 1, bytesRead = 0.0
            while let line = readLine() {
                lines.append(line)
                bytesRead += Double(line.utf8.count + 1)
                if lines.count == chunk {
                    // A file's lines so far tell how many it holds in all, about.
                    if fileBytes > 0 { progress.update(total: Double(count + lines.count) * fileBytes / bytesRead) }
                    translateChunk(lines, firstNumber: next)
                    next += lines.count
                    lines.removeAll(keepingCapacity: true)
                }
            }
            if !lines.isEmpty { translateChunk(lines, firstNumber: next) }
        }
        progress.end()
        warnTruncated("translate", truncated, kind: "inputs", places: sentences.isEmpty ? "lines" : "arguments",
                      translator: translator)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard timing else { return }
        FileHandle.standardError.write(Data(String(
            format: "translate: %d sentences in %.3f s, %.1f sentences/s (beam %d, %@, %d threads)\n", count, seconds,
            Double(count) / max(seconds, 1e-9), beam, useCache ? "key/value cache" : "no cache", threads).utf8))
    }

    /// The indices of the sources (token ids, without specials) that the translator will cut:
    /// longer than its positions less [SOS] and [EOS].
    static func truncatedInputs(_ sources: [[Int32]], translator: Translator) -> [Int] {
        sources.indices.filter { sources[$0].count + 2 > translator.model.config.positions }
    }

    /// One line on standard error when some inputs were cut to the model's positions, e.g.
    /// "translate: 3 inputs truncated to 41 tokens, the model's limit (lines 4, 17, 90)"; the first
    /// ten numbers are listed.
    static func warnTruncated(_ command: String, _ numbers: [Int], kind: String, places: String, translator: Translator) {
        guard !numbers.isEmpty else { return }
        let listed = numbers.prefix(10).map(String.init).joined(separator: ", ") + (numbers.count > 10 ? ", …" : "")
        let limit = translator.model.config.positions - 2
        FileHandle.standardError.write(Data("\(command): \(numbers.count) \(kind) truncated to \(limit) tokens, the model's limit (\(places) \(listed))\n".utf8))
    }

    /// `trainer eval --pairs`: a translation checkpoint scored on sentence pairs from one TSV file
    /// (source<TAB>reference) or two aligned files (`PairEvaluation`). Empty and malformed lines are
    /// skipped and counted on standard error, as are pairs cut to the model's positions.
    public static func evaluatePairs(checkpoint path: String, files: [String], beam: Int?, threads: Int) throws {
        let trained = try TrainedModel(checkpoint: path)
        try trained.require(.seq2seq, for: "eval --pairs")
        let beam = beam ?? trained.config.eval.beam
        var report = ParallelPrepare.Report(output: "")
        let pairs = try ParallelPrepare.readNumberedPairs(files, report: &report, command: "eval --pairs")
        let translator = try trained.translator(batch: 16 * max(1, beam), threads: threads, for: "eval --pairs")
        let skipped = report.empty + report.malformed
        if skipped > 0 {
            FileHandle.standardError.write(Data("eval --pairs: skipped \(skipped) of \(report.lines) lines (\(report.empty) with an empty side, \(report.malformed) without a tab)\n".utf8))
        }
        FileHandle.standardError.write(Data("eval --pairs: translating \(pairs.count) pairs (\(beam > 1 ? "beam \(beam)" : "greedy")) ...\n".utf8))
        let result = PairEvaluation.run(pairs: pairs.map { ($0.source, $0.target) }, lines: pairs.map(\.line), translator: translator,
                                        beam: beam, lengthPenalty: trained.config.eval.lengthPenalty,
                                        parallelism: Parallelism(threads: threads))
        warnTruncated("eval --pairs", result.truncatedLines, kind: "pairs", places: "lines", translator: translator)
        say("\(path) at step \(trained.reader.header.step) on \(files.joined(separator: " + ")) (\(pairs.count) pairs): "
            + describeLoss(result.loss, labelSmoothing: trained.config.model.labelSmoothing) + describeScores(result.scores))
    }

    /// `trainer attention`: translates one sentence greedily, runs the model once more on the
    /// sentence and its translation, and writes every attention map as an HTML page, its axes
    /// labelled with the tokens as text (`Tokenizer.readableTokens`). A sentence longer than the
    /// model's positions is cut to fit, with a line on standard error.
    public static func attention(checkpoint: String, sentence: String, output: String, threads: Int) throws {
        let translator = try TrainedModel(checkpoint: checkpoint).translator(batch: 1, threads: threads, for: "attention")
        let encoded = translator.sourceTokenizer.encode(sentence)
        if !truncatedInputs([encoded], translator: translator).isEmpty {
            FileHandle.standardError.write(Data("attention: the sentence has \(encoded.count) tokens; truncated to \(translator.model.config.positions - 2), the model's limit\n".utf8))
        }
        let sourceIDs = translator.sourceSequence(encoded)
        let translation = translator.translate(ids: [encoded])[0]
        let specials = translator.targetTokenizer.specials!
        let targetIDs = [specials.sos] + translation
        let model = translator.model
        model.recordsAttention = true
        let S = sourceIDs.count, T = targetIDs.count
        model.encode(source: sourceIDs, mask: [UInt8](repeating: 1, count: S), batch: 1, length: S,
                     parallelism: Parallelism(threads: threads))
        model.decode(target: targetIDs, mask: [UInt8](repeating: 1, count: T), labels: nil, batch: 1, length: T,
                     sourceLength: S, parallelism: Parallelism(threads: threads))
        // Tokens as text, not as BPE byte symbols (`Ġè` → " è").
        let sourceTokens = translator.sourceTokenizer.readableTokens(sourceIDs)
        let targetTokens = translator.targetTokenizer.readableTokens(targetIDs)
        func maps(_ buffer: (Int) -> FloatBuffer, rows: Int, columns: Int) -> [[[Float]]] {
            (0 ..< model.config.layers).map { layer in
                let probabilities = buffer(layer)
                return (0 ..< model.config.heads).map { head in
                    Array(UnsafeBufferPointer(start: probabilities.pointer + head * rows * columns, count: rows * columns))
                }
            }
        }
        let sections = [
            AttentionMaps.Section(title: "Encoder self-attention", rowTokens: sourceTokens, columnTokens: sourceTokens,
                                  maps: maps(model.attentionProbabilities(encoderLayer:), rows: S, columns: S)),
            AttentionMaps.Section(title: "Decoder self-attention", rowTokens: targetTokens, columnTokens: targetTokens,
                                  maps: maps(model.attentionProbabilities(decoderSelfLayer:), rows: T, columns: T)),
            AttentionMaps.Section(title: "Cross-attention (decoder → encoder)", rowTokens: targetTokens, columnTokens: sourceTokens,
                                  maps: maps(model.attentionProbabilities(crossLayer:), rows: T, columns: S)),
        ]
        let text = translator.targetTokenizer.decode(translation)
        try AttentionMaps.write(to: output, title: "Attention maps", subtitle: "\(sentence) → \(text)", sections: sections)
        say("\(sentence) → \(text)")
        say("wrote \(output)")
    }
}
