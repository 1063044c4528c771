import Foundation

/// The translation commands: training-set preparation, `translate`, `attention`, and the task
/// factory used by `train`.
extension Commands {
    /// The training task a config describes, preparing its dataset on rank 0 if it is missing.
    static func makeTask(config: RunConfig, world: Communicator, log: (String) -> Void) throws -> TrainingTask {
        let exists = FileManager.default.fileExists(atPath: config.data.dataset)
        switch config.model.kind {
        case .gpt:
            if world.isRoot && !exists {
                let corpus = config.data.corpus.isEmpty ? [try BuiltinCorpus.shakespearePath]
                                                        : config.data.corpus.split(separator: ",").map(String.init)
                log("preparing \(config.data.dataset) from \(corpus.joined(separator: ", "))")
                let report = try Prepare.prepareLanguageModel(inputs: corpus, output: config.data.dataset, progress: .init())
                log(Prepare.describe(report))
            }
            try world.barrier()
            return try TaskFactory.make(config: config)
        case .seq2seq:
            if world.isRoot && !exists {
                var inputs = config.data.corpus.split(separator: ",").map(String.init)
                var temporary: String?
                if inputs.isEmpty {
                    // The built-in English → Italian toy task.
                    let path = FileManager.default.temporaryDirectory.appendingPathComponent("toy-en-it-\(getpid()).tsv").path
                    try (ToyTranslation.corpus(count: 22_000).joined(separator: "\n") + "\n")
                        .write(toFile: path, atomically: true, encoding: .utf8)
                    inputs = [path]
                    temporary = path
                }
                defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
                log("preparing \(config.data.dataset) from \(temporary == nil ? inputs.joined(separator: ", ") : "the built-in English → Italian toy corpus")")
                var options = ParallelPrepareOptions()
                options.maximumLength = config.resolvedModel.positions
                let report = try ParallelPrepare.prepare(inputs: inputs, output: config.data.dataset, options: options)
                log(report.description)
            }
            try world.barrier()
            return try TaskFactory.make(config: config)
        }
    }

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
    public static func translate(checkpoint: String, sentences: [String], beam: Int, lengthPenalty: Double, threads: Int) throws {
        let translator = try TrainedModel(checkpoint: checkpoint).translator(batch: 16 * max(1, beam), threads: threads,
                                                                             for: "translate")
        if !sentences.isEmpty {
            for output in translator.translate(sentences, beam: beam, lengthPenalty: lengthPenalty) { say(output) }
            return
        }
        while let line = readLine() {
            say(translator.translate([line], beam: beam, lengthPenalty: lengthPenalty)[0])
        }
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

extension Commands {
    /// `trainer eval`: the validation loss and perplexity of a checkpoint on its dataset (or
    /// another with the same tokenizer); for translation also BLEU, chrF, CER and WER.
    public static func evaluate(checkpoint path: String, dataset: String?, beam: Int?, threads: Int) throws {
        let checkpoint = try TrainedModel(checkpoint: path)
        var overrides: [String] = []
        if let dataset { overrides.append("data.dataset=\(dataset)") }
        if let beam { overrides.append("eval.beam=\(beam)") }
        var config = try ConfigLoader.load(text: checkpoint.reader.header.config, source: path + " (stored config)",
                                           overrides: overrides)
        config.threads = threads
        guard FileManager.default.fileExists(atPath: config.data.dataset) else {
            throw TrainerError("eval: \(config.data.dataset): no such file (the checkpoint's dataset; pass --dataset)")
        }
        let world = Communicator.world
        let task = try TaskFactory.make(config: config)
        try checkpoint.load(into: task)
        let parallelism = Parallelism(threads: threads)
        var sum = 0.0, count = 0
        for index in 0 ..< task.evaluationBatches(.val) {
            let total = try task.evaluateMicroBatch(split: .val, index: index, parallelism: parallelism)
            sum += total.sum
            count += total.count
        }
        let loss = sum / Double(max(count, 1))
        var line = String(format: "%@ at step %d on %@ (validation): loss %.4f, perplexity %.2f", path, checkpoint.reader.header.step,
                          config.data.dataset, loss, exp(loss))
        for (name, value) in try task.extraEvaluation(step: checkpoint.reader.header.step, communicator: world, parallelism: parallelism) {
            line += String(format: ", %@ %.2f", name, name == "cer" || name == "wer" ? value * 100 : value)
            if name == "cer" || name == "wer" { line += "%" }
        }
        say(line)
    }
}
