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

    /// `trainer translate`: sentences from the arguments, or one per standard-input line.
    public static func translate(checkpoint: String, sentences: [String], beam: Int, lengthPenalty: Double,
                                 useCache: Bool = true, threads: Int) throws {
        let translator = try TrainedModel(checkpoint: checkpoint).translator(batch: 16 * max(1, beam), threads: threads,
                                                                             for: "translate")
        translator.useCache = useCache
        let start = DispatchTime.now().uptimeNanoseconds
        var count = 0
        if !sentences.isEmpty {
            for output in translator.translate(sentences, beam: beam, lengthPenalty: lengthPenalty) { say(output) }
            count = sentences.count
        } else {
            while let line = readLine() {
                say(translator.translate([line], beam: beam, lengthPenalty: lengthPenalty)[0])
                count += 1
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        FileHandle.standardError.write(Data(String(
            format: "translate: %d sentences in %.3f s, %.1f sentences/s (beam %d, %@, %d threads)\n", count, seconds,
            Double(count) / max(seconds, 1e-9), beam, useCache ? "key/value cache" : "no cache", threads).utf8))
    }

    /// `trainer attention`: translates one sentence greedily, runs the model once more on the
    /// sentence and its translation, and writes every attention map as an HTML page.
    public static func attention(checkpoint: String, sentence: String, output: String, threads: Int) throws {
        let translator = try TrainedModel(checkpoint: checkpoint).translator(batch: 1, threads: threads, for: "attention")
        let sourceIDs = translator.sourceSequence(translator.sourceTokenizer.encode(sentence))
        let translation = translator.translate(ids: [translator.sourceTokenizer.encode(sentence)])[0]
        let specials = translator.targetTokenizer.specials!
        let targetIDs = [specials.sos] + translation
        let model = translator.model
        model.recordsAttention = true
        let S = sourceIDs.count, T = targetIDs.count
        model.encode(source: sourceIDs, mask: [UInt8](repeating: 1, count: S), batch: 1, length: S,
                     parallelism: Parallelism(threads: threads))
        model.decode(target: targetIDs, mask: [UInt8](repeating: 1, count: T), labels: nil, batch: 1, length: T,
                     sourceLength: S, parallelism: Parallelism(threads: threads))
        let sourceTokens = sourceIDs.map { translator.sourceTokenizer.vocabulary[Int($0)] }
        let targetTokens = targetIDs.map { translator.targetTokenizer.vocabulary[Int($0)] }
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
