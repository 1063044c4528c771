import Foundation
import XCTest
import TrainerKit

/// Every `trainer` subcommand run as a real process, on a tiny character corpus and a tiny
/// parallel corpus: exit codes, what each command prints or writes, and bad input rejected with
/// one line on standard error that names the file, key or value.
///
/// The datasets and the two checkpoints (a GPT and an encoder–decoder, three steps each) are made
/// once per run of this class, by the trainer itself, in a temporary folder that is every
/// process's working directory. Processes get `OPENBLAS_NUM_THREADS=1` and one thread.
final class CommandLineTests: XCTestCase {
    override class func tearDown() {
        sharedFixture.remove()
        super.tearDown()
    }

    // MARK: - prepare

    func testPrepareWritesACharacterDataset() throws {
        let fixture = try CommandLineFixture.shared()
        let scalars = fixture.corpus.unicodeScalars
        let vocabulary = Set(scalars).count, train = Int(Double(scalars.count) * 0.9), validation = scalars.count - train
        XCTAssertTrue(fixture.prepareCorpus.output.hasPrefix(
            "prepared lm.h5: \(vocabulary) tokens in the vocabulary, \(train) train + \(validation) val tokens"),
            fixture.prepareCorpus.description)

        let inspect = try fixture.run(["inspect", "lm.h5"])
        XCTAssertTrue(inspect.succeeded, inspect.description)
        XCTAssertEqual(inspect.lines.first?.hasPrefix("lm.h5: dataset (lm)"), true, inspect.description)
        XCTAssertTrue(inspect.lines.contains("tokenizer: char, \(vocabulary) tokens"), inspect.description)
        XCTAssertTrue(inspect.lines.contains { $0.contains("/train/tokens") && $0.hasSuffix("× \(train)") }, inspect.description)
        XCTAssertTrue(inspect.lines.contains { $0.contains("/val/tokens") && $0.hasSuffix("× \(validation)") }, inspect.description)
    }

    func testPrepareWritesAParallelDatasetWithTheWordTokenizer() throws {
        let fixture = try CommandLineFixture.shared()
        XCTAssertEqual(fixture.generatePairs.output, "wrote 200 English<TAB>Italian pairs to pairs.tsv\n")
        let pairs = try String(contentsOfFile: fixture.directory + "/pairs.tsv", encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        XCTAssertEqual(pairs.count, 200)
        XCTAssertTrue(pairs.allSatisfy { $0.count == 2 && !$0[0].isEmpty && !$0[1].isEmpty }, "source<TAB>target per line")

        let report = fixture.prepareParallel.output
        let pattern = try Regex(#"^prepared pairs\.h5: (\d+) train \+ (\d+) val pairs from 200 lines \(dropped: (\d+) longer than the limit, 0 empty, 0 malformed\); vocabularies (\d+) source, (\d+) target"#)
        let match = try XCTUnwrap(report.firstMatch(of: pattern), report)
        let numbers = (1 ... 5).map { Int(match.output[$0].substring!)! }
        let (train, validation, tooLong, source, target) = (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4])
        XCTAssertEqual(train + validation + tooLong, 200)
        XCTAssertEqual(validation, Int((Double(train + validation) * 0.1).rounded()), "--val-fraction 0.1 of the kept pairs")
        XCTAssertGreaterThan(train, 150)

        let inspect = try fixture.run(["inspect", "pairs.h5"])
        XCTAssertTrue(inspect.succeeded, inspect.description)
        XCTAssertEqual(inspect.lines.first?.hasPrefix("pairs.h5: dataset (parallel)"), true, inspect.description)
        XCTAssertTrue(inspect.lines.contains("tokenizers: word, \(source) source + \(target) target tokens"), inspect.description)
    }

    // MARK: - train

    func testTrainRunsATinyGPTAndWritesItsRunFolder() throws {
        let fixture = try CommandLineFixture.shared()
        let run = fixture.trainGPT
        let config = try ConfigLoader.load(path: nil, overrides: CommandLineFixture.gptSettings(runDirectory: "gpt"))
        let vocabulary = Set(fixture.corpus.unicodeScalars).count
        let parameters = GPTModel.layout(config.resolvedModel, vocabulary: vocabulary).makeStore().count
        XCTAssertTrue(run.lines.contains("gpt: \(parameters) parameters, 1 ranks × 1 threads, 2 micro-batches of 2 sequences per step"),
                      run.description)
        // nanoGPT's initialisation gives nearly uniform predictions: the first loss is about ln V.
        let firstLoss = try XCTUnwrap(run.number(after: "step 0: loss "), run.description)
        XCTAssertEqual(firstLoss, log(Double(vocabulary)), accuracy: 0.2)
        for step in 1 ... 2 { XCTAssertNotNil(run.line(startingWith: "step \(step): loss "), run.description) }
        XCTAssertNil(run.line(startingWith: "step 3: loss "), "three steps, 0 to 2")
        XCTAssertNotNil(run.line(startingWith: "step 3: train loss "), run.description)
        XCTAssertNotNil(run.line(startingWith: "done: 3 steps in "), run.description)
        XCTAssertNil(run.line(startingWith: "sample:"), "--sample 0 prints no sample")

        let folder = fixture.directory + "/gpt"
        for file in ["ckpt.h5", "config.yaml", "metrics.jsonl"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/" + file), "gpt/\(file) is missing")
        }
        let metrics = try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(metrics.count, 4, "one object per step and one per evaluation")
        let resolved = try ConfigLoader.load(path: folder + "/config.yaml")
        XCTAssertEqual(resolved.model, config.model)
        XCTAssertEqual(resolved.data, config.data)
    }

    func testTrainRunsATinyEncoderDecoder() throws {
        let fixture = try CommandLineFixture.shared()
        let run = fixture.trainSeq2Seq
        let config = try ConfigLoader.load(path: nil, overrides: CommandLineFixture.seq2seqSettings)
        let dataset = try ParallelDataset(path: fixture.directory + "/pairs.h5")
        let parameters = Seq2SeqModel.layout(config.resolvedModel, sourceVocabulary: dataset.sourceTokenizer.count,
                                             targetVocabulary: dataset.targetTokenizer.count).makeStore().count
        XCTAssertNotNil(run.line(startingWith: "seq2seq: \(parameters) parameters, 1 ranks × 1 threads"), run.description)
        let evaluation = try XCTUnwrap(run.line(startingWith: "step 3: train loss "), run.description)
        for metric in ["val loss", "bleu", "chrf", "cer", "wer"] { XCTAssertTrue(evaluation.contains(metric), evaluation) }
        XCTAssertNotNil(run.line(startingWith: "done: 3 steps in "), run.description)
        XCTAssertTrue(FileManager.default.fileExists(atPath: fixture.directory + "/seq2seq/ckpt.h5"))
    }

    /// Three steps, then `--resume` to five: the resumed run starts at step 3 and logs the same
    /// steps 3 and 4 (loss, learning rate, gradient norm) as one straight run of five steps.
    func testResumeContinuesFromTheCheckpoint() throws {
        let fixture = try CommandLineFixture.shared()
        try FileManager.default.copyItem(atPath: fixture.directory + "/gpt", toPath: fixture.directory + "/resumed")
        let resumed = try fixture.run(["train", "--resume", "--sample", "0"]
                                      + setOptions(CommandLineFixture.gptSettings(runDirectory: "resumed", maxSteps: 5)))
        let straight = try fixture.run(["train", "--sample", "0"]
                                       + setOptions(CommandLineFixture.gptSettings(runDirectory: "straight", maxSteps: 5)))
        XCTAssertTrue(resumed.succeeded, resumed.description)
        XCTAssertTrue(straight.succeeded, straight.description)
        XCTAssertTrue(resumed.lines.contains("resumed from resumed/ckpt.h5 at step 3"), resumed.description)
        XCTAssertNil(resumed.line(startingWith: "step 0: loss "), "the resumed run must not start over")
        XCTAssertNotNil(resumed.line(startingWith: "done: 2 steps in "), resumed.description)
        for step in 3 ... 4 {
            // "step 3: loss 3.1234, lr 9.79e-03, grad norm 0.123" without the timings.
            let expected = try XCTUnwrap(straight.line(startingWith: "step \(step): loss "), straight.description)
            let actual = try XCTUnwrap(resumed.line(startingWith: "step \(step): loss "), resumed.description)
            XCTAssertEqual(Array(actual.components(separatedBy: ", ").prefix(3)), Array(expected.components(separatedBy: ", ").prefix(3)))
        }
        XCTAssertEqual(resumed.number(after: "train loss "), straight.number(after: "train loss "))
        XCTAssertEqual(resumed.number(after: "val loss "), straight.number(after: "val loss "))
        let inspect = try fixture.run(["inspect", "resumed/ckpt.h5"])
        XCTAssertEqual(inspect.lines.first?.hasPrefix("resumed/ckpt.h5: checkpoint (gpt), step 5,"), true, inspect.description)
    }

    // MARK: - sample, translate, attention

    func testSamplePrintsThePromptThenTheRequestedCharacters() throws {
        let fixture = try CommandLineFixture.shared()
        func sample(_ options: [String]) throws -> TrainerRun {
            let run = try fixture.run(["sample", "--checkpoint", "gpt/ckpt.h5", "--prompt", "the ", "--threads", "1"] + options)
            XCTAssertTrue(run.succeeded, run.description)
            return run
        }
        let first = try sample(["--tokens", "40", "--seed", "7"])
        XCTAssertTrue(first.output.hasPrefix("the ") && first.output.hasSuffix("\n"), first.description)
        let generated = first.output.unicodeScalars.dropFirst(4).dropLast()
        XCTAssertEqual(generated.count, 40, "40 characters after the prompt: \(first.output.debugDescription)")
        let vocabulary = Set(fixture.corpus.unicodeScalars)
        XCTAssertTrue(generated.allSatisfy(vocabulary.contains), "characters outside the corpus: \(first.output.debugDescription)")

        XCTAssertEqual(try sample(["--tokens", "40", "--seed", "7"]).output, first.output, "the same seed, the same text")
        XCTAssertNotEqual(try sample(["--tokens", "40", "--seed", "8"]).output, first.output, "another seed, another text")
        XCTAssertEqual(try sample(["--tokens", "20", "--top-k", "1", "--seed", "1"]).output,
                       try sample(["--tokens", "20", "--top-k", "1", "--seed", "2"]).output, "top-k 1 is greedy: no seed matters")
        XCTAssertEqual(try sample(["--tokens", "0"]).output, "the \n")
    }

    func testTranslateReadsArgumentsOrStandardInputOneLinePerSentence() throws {
        let fixture = try CommandLineFixture.shared()
        let arguments = try fixture.run(["translate", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1",
                                         "The dog runs.", "The girl finds the cars."])
        XCTAssertTrue(arguments.succeeded, arguments.description)
        XCTAssertEqual(arguments.lines.count, 2, arguments.description)
        XCTAssertTrue(arguments.lines.allSatisfy { !$0.trimmingCharacters(in: .whitespaces).isEmpty }, arguments.description)

        let standardInput = try fixture.run(["translate", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1", "--beam", "1"],
                                            input: "The dog runs.\nThe cat waits.\n\nThe boy finds the flower.\n")
        XCTAssertTrue(standardInput.succeeded, standardInput.description)
        XCTAssertEqual(standardInput.lines.count, 4, "one line per input line, the empty one included: \(standardInput.description)")
        // The same lines as arguments are translated the same way (the same batch).
        let same = try fixture.run(["translate", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1", "--beam", "1", "The dog runs.",
                                    "The cat waits.", "", "The boy finds the flower."])
        XCTAssertEqual(same.lines, standardInput.lines, same.description)
    }

    /// Standard input is translated in chunks of 64 lines, each one batch sorted by length, and
    /// the output keeps the input order: the same lines shuffled within a chunk come out shuffled
    /// the same way (a chunk's batches depend only on its set of sentences), and 70 lines (two
    /// chunks) read from standard input match the same 70 as arguments, with greedy and beam search.
    func testTranslateBatchesStandardInputAndKeepsItsOrder() throws {
        let fixture = try CommandLineFixture.shared()
        let sentences = ToyTranslation.corpus(count: 70).map { String($0.split(separator: "\t")[0]) }
        var random = TestRandom(seed: 5)
        var permutation = Array(0 ..< 64)
        for i in stride(from: 63, to: 0, by: -1) { permutation.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        for beam in ["1", "3"] {
            let options = ["translate", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1", "--beam", beam]
            let ordered = try fixture.run(options, input: sentences.prefix(64).joined(separator: "\n") + "\n")
            let shuffled = try fixture.run(options, input: permutation.map { sentences[$0] }.joined(separator: "\n") + "\n")
            XCTAssertTrue(ordered.succeeded && shuffled.succeeded, ordered.description + shuffled.description)
            XCTAssertEqual(ordered.lines.count, 64, ordered.description)
            XCTAssertEqual(shuffled.lines, permutation.map { ordered.lines[$0] }, "beam \(beam): each translation stays on its line")
            XCTAssertGreaterThan(Set(ordered.lines).count, 1, "distinct sentences, not all one translation: \(ordered.description)")

            let piped = try fixture.run(options, input: sentences.joined(separator: "\n"))  // no final newline
            let arguments = try fixture.run(options + sentences)
            XCTAssertEqual(piped.lines.count, 70, piped.description)
            XCTAssertEqual(piped.lines, arguments.lines, "beam \(beam): standard input and arguments agree")
            XCTAssertEqual(Array(piped.lines.prefix(64)), ordered.lines, "the first chunk is the same 64 lines")
            XCTAssertEqual(piped.notes, [], piped.description)
        }
    }

    /// Inputs longer than the model's positions (16 here: 14 source tokens) are truncated, and
    /// said so on standard error: one line for translate and eval --pairs, naming the lines, and
    /// one for attention.
    func testTruncatedInputsAreReported() throws {
        let fixture = try CommandLineFixture.shared()
        let long = "The dog runs and the cat waits and the boy finds the flower and the girl sees the car."
        let short = "The dog runs."
        let translated = try fixture.run(["translate", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1", "--beam", "1"],
                                         input: [short, long, short, long, long].joined(separator: "\n") + "\n")
        XCTAssertTrue(translated.succeeded, translated.description)
        XCTAssertEqual(translated.lines.count, 5, translated.description)
        XCTAssertEqual(translated.notes, ["translate: 3 inputs truncated to 14 tokens, the model's limit (lines 2, 4, 5)"])
        let arguments = try fixture.run(["translate", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1", long, short])
        XCTAssertEqual(arguments.notes, ["translate: 1 inputs truncated to 14 tokens, the model's limit (arguments 1)"])
        let quiet = try fixture.run(["translate", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1", short])
        XCTAssertEqual(quiet.notes, [], "nothing truncated, nothing said")

        _ = try writeText("\(short)\tIl cane corre.\n\(long)\tIl cane corre.\n", "long.tsv", in: fixture.directory)
        let scored = try fixture.run(["eval", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1", "--pairs", "long.tsv"])
        XCTAssertTrue(scored.succeeded, scored.description)
        XCTAssertTrue(scored.errorOutput.contains("eval --pairs: 1 pairs truncated to 14 tokens, the model's limit (lines 2)\n"),
                      scored.description)

        let attention = try fixture.run(["attention", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1", "--output", "long.html", long])
        XCTAssertTrue(attention.succeeded, attention.description)
        XCTAssertTrue(attention.errorOutput.hasPrefix("attention: the sentence has "), attention.description)
        XCTAssertTrue(attention.errorOutput.contains("truncated to 14, the model's limit"), attention.description)
    }

    /// A translator as a user trains one on their own data: a BPE dataset with a test split,
    /// `model.positions: 0` (resolved from the data and stored resolved), label smoothing (both
    /// losses and perplexities printed and recorded), evaluation every step (no decoding at step 0,
    /// a line before each decoding, `eval.decode_pairs` honoured), then `eval --split test` and an
    /// attention page labelled with text rather than byte symbols.
    func testATranslatorTrainsOnItsOwnDataAndIsScoredOnItsTestSplit() throws {
        let fixture = try CommandLineFixture.shared()
        let prepare = try fixture.run(["prepare", "--input", "pairs.tsv", "--output", "bpe.h5", "--tokenizer", "bpe", "--vocab-size", "300",
                                       "--test-fraction", "0.1"])
        XCTAssertTrue(prepare.succeeded, prepare.description)
        XCTAssertTrue(prepare.output.contains(" val + 20 test pairs from 200 lines"), prepare.description)
        let dataset = try ParallelDataset(path: fixture.directory + "/bpe.h5")
        XCTAssertEqual(dataset.counts[.test], 20)
        let validation = try XCTUnwrap(dataset.counts[.val])
        let inspect = try fixture.run(["inspect", "bpe.h5"])
        XCTAssertTrue(inspect.lines.contains { $0.contains("/test/source/tokens") }, inspect.description)

        let train = try fixture.run(["train", "--sample", "0"] + setOptions([
            "model.kind=seq2seq", "model.layers=1", "model.channels=16", "model.heads=2", "model.positions=0",
            "model.label_smoothing=0.1", "data.batch_size=4", "data.micro_batch_size=2", "schedule.max_steps=2",
            "eval.interval=1", "eval.batches=1", "eval.decode_pairs=5", "threads=1", "data.dataset=bpe.h5", "run_dir=bpe-run",
        ]))
        XCTAssertTrue(train.succeeded, train.description)
        // positions 0: the longest sequence of the data, in the log, config.yaml and the checkpoint.
        let positions = dataset.longestSequence
        XCTAssertTrue(train.lines.contains("model.positions 0: \(positions), the longest sequence of bpe.h5 with [SOS]/[EOS]"),
                      train.description)
        XCTAssertEqual(try ConfigLoader.load(path: fixture.directory + "/bpe-run/config.yaml").model.positions, positions)
        let checkpoint = try TrainedModel(checkpoint: fixture.directory + "/bpe-run/ckpt.h5")
        XCTAssertEqual(checkpoint.config.model.positions, positions)

        // Step 0: the loss only; the decoding it skips is named.
        let decoding = "translating the first 5 of \(validation) validation pairs (greedy) for BLEU, chrF, CER and WER"
        let first = try XCTUnwrap(train.line(startingWith: "step 0: train loss "), train.description)
        XCTAssertTrue(first.hasSuffix("; skipped at step 0 (untrained): " + decoding), first)
        XCTAssertFalse(first.contains("bleu"), first)
        // Later: a line before the decoding, then the scores.
        let announced = try XCTUnwrap(train.lines.firstIndex(of: "step 1: evaluating: \(decoding) ..."), train.description)
        let evaluated = try XCTUnwrap(train.lines.firstIndex { $0.hasPrefix("step 1: train loss ") }, train.description)
        XCTAssertLessThan(announced, evaluated)
        let line = train.lines[evaluated]
        XCTAssertTrue(line.contains(", bleu "), line)

        // Label smoothing: the smoothed losses, then the unsmoothed ones and both perplexities.
        let final = try XCTUnwrap(train.line(startingWith: "step 2: train loss "), train.description)
        func number(_ label: String, in text: String) throws -> Double {
            let range = try XCTUnwrap(text.range(of: label), "\(label) is missing: \(text)")
            return try XCTUnwrap(Double(text[range.upperBound...].prefix { $0.isNumber || $0 == "." }), text)
        }
        let valLoss = try number(", val loss ", in: final), unsmoothed = try number("unsmoothed val loss ", in: final)
        XCTAssertTrue(final.contains(" (label smoothing 0.1), unsmoothed train loss "), final)
        XCTAssertEqual(try number("val perplexity ", in: final), exp(unsmoothed), accuracy: 1e-3 * exp(unsmoothed))
        let perplexities = try XCTUnwrap(final.components(separatedBy: "val perplexity ").last)
        XCTAssertEqual(try number(" (", in: perplexities), exp(valLoss), accuracy: 1e-3 * exp(valLoss), "the smoothed one in parentheses")
        let metrics = try String(contentsOfFile: fixture.directory + "/bpe-run/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n").filter { $0.contains("\"val_loss\"") }
        XCTAssertEqual(metrics.count, 3, "evaluations at steps 0, 1 and 2")
        for record in metrics {
            for key in ["train_loss", "val_loss", "train_loss_unsmoothed", "val_loss_unsmoothed", "val_perplexity", "val_perplexity_smoothed"] {
                XCTAssertTrue(record.contains("\"\(key)\": "), "\(key) is missing: \(record)")
            }
            XCTAssertEqual(record.contains("\"bleu\""), !record.contains("\"step\": 0,"), "no BLEU at step 0 only: \(record)")
        }

        // eval: the validation split gives the training's last numbers; the test split is scored whole.
        let onValidation = try fixture.run(["eval", "--checkpoint", "bpe-run/ckpt.h5", "--threads", "1"])
        XCTAssertTrue(onValidation.succeeded, onValidation.description)
        XCTAssertEqual(try number("/bpe.h5 (validation): loss ", in: onValidation.output), valLoss)
        XCTAssertEqual(try number("unsmoothed loss ", in: onValidation.output), unsmoothed)
        XCTAssertTrue(onValidation.output.contains(" (label smoothing 0.1), unsmoothed loss "), onValidation.description)
        XCTAssertEqual(try number(", perplexity ", in: onValidation.output), exp(unsmoothed), accuracy: 1e-3 * exp(unsmoothed))
        let onTest = try fixture.run(["eval", "--checkpoint", "bpe-run/ckpt.h5", "--threads", "1", "--split", "test"])
        XCTAssertTrue(onTest.succeeded, onTest.description)
        XCTAssertTrue(onTest.output.contains("/bpe.h5 (test): loss "), onTest.description)
        XCTAssertNotNil(onTest.number(after: "wer "), onTest.description)
        XCTAssertEqual(onTest.errorOutput, "eval: translating 20 test pairs (greedy) for BLEU, chrF, CER and WER ...\n")
        XCTAssertNotEqual(try number("(test): loss ", in: onTest.output), valLoss)

        // Attention maps of a BPE model: tokens as text ("è" is two byte tokens here), no byte symbols.
        let attention = try fixture.run(["attention", "--checkpoint", "bpe-run/ckpt.h5", "--threads", "1", "--output", "bpe.html",
                                         "The dog è here."])
        XCTAssertTrue(attention.succeeded, attention.description)
        let page = try String(contentsOfFile: fixture.directory + "/bpe.html", encoding: .utf8)
        XCTAssertTrue(page.contains("è[C3]") && page.contains("è[A8]"), "the split character, labelled")
        XCTAssertFalse(page.contains("Ġ"), "no byte symbol for the space")
        XCTAssertFalse(page.contains("Ã"), "no byte symbol for è's first byte")
    }

    func testAttentionWritesAnHTMLPageWithEveryMap() throws {
        let fixture = try CommandLineFixture.shared()
        let run = try fixture.run(["attention", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1", "--output", "maps.html",
                                   "The dog runs."])
        XCTAssertTrue(run.succeeded, run.description)
        XCTAssertEqual(run.lines.count, 2, run.description)
        XCTAssertEqual(run.lines.first?.hasPrefix("The dog runs. → "), true, run.description)
        XCTAssertEqual(run.lines.last, "wrote maps.html")
        let page = try String(contentsOfFile: fixture.directory + "/maps.html", encoding: .utf8)
        XCTAssertTrue(page.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(page.contains("</html>"))
        for title in ["Encoder self-attention", "Decoder self-attention", "Cross-attention"] {
            XCTAssertTrue(page.contains(title), "\(title) is missing")
        }
        // Three kinds of attention × 1 layer × 2 heads.
        XCTAssertEqual(page.components(separatedBy: "<svg").count - 1, 6)
    }

    // MARK: - eval, inspect, bench

    func testEvalPrintsTheValidationLossTheTrainingEndedWith() throws {
        let fixture = try CommandLineFixture.shared()
        for (checkpoint, training, extras) in [("gpt/ckpt.h5", fixture.trainGPT, [String]()),
                                                ("seq2seq/ckpt.h5", fixture.trainSeq2Seq, ["bleu", "chrf", "cer", "wer"])] {
            let run = try fixture.run(["eval", "--checkpoint", checkpoint, "--threads", "1"])
            XCTAssertTrue(run.succeeded, run.description)
            XCTAssertEqual(run.lines.count, 1, run.description)
            XCTAssertTrue(run.output.hasPrefix("\(checkpoint) at step 3 on "), run.description)
            let loss = try XCTUnwrap(run.number(after: "(validation): loss "), run.description)
            let perplexity = try XCTUnwrap(run.number(after: "perplexity "), run.description)
            XCTAssertEqual(perplexity, exp(loss), accuracy: 0.01 * perplexity)
            // Both evaluate the same eval.batches of the validation split with the same weights.
            XCTAssertEqual(loss, try XCTUnwrap(training.number(after: "val loss ")), "\(checkpoint): eval and train disagree")
            for name in extras { XCTAssertNotNil(run.number(after: name + " "), "\(name) missing: \(run.output)") }
        }
    }

    /// `eval --pairs`: any sentence pairs, as one TSV file or two aligned files, scored with the
    /// checkpoint's tokenizers. On the validation split's own sentences it gives what `eval` gives
    /// on the dataset: the same loss, perplexity and scores.
    func testEvalScoresSentencePairsFromATSVFile() throws {
        let fixture = try CommandLineFixture.shared()
        let dataset = try ParallelDataset(path: fixture.directory + "/pairs.h5")
        let sources = try dataset.texts(.val, .source), references = try dataset.texts(.val, .target)
        var lines = zip(sources, references).map { $0 + "\t" + $1 }
        lines.insert("a line without a tab", at: 3)
        _ = try writeText(lines.joined(separator: "\n") + "\n", "val.tsv", in: fixture.directory)
        _ = try writeText(sources.joined(separator: "\n") + "\n", "val.en", in: fixture.directory)
        _ = try writeText(references.joined(separator: "\n") + "\n", "val.it", in: fixture.directory)

        let onDataset = try fixture.run(["eval", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1"])
        let onTSV = try fixture.run(["eval", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1", "--pairs", "val.tsv"])
        let onFiles = try fixture.run(["eval", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1", "--pairs", "val.en", "val.it"])
        for run in [onDataset, onTSV, onFiles] { XCTAssertTrue(run.succeeded, run.description) }
        XCTAssertEqual(onTSV.lines.count, 1, onTSV.description)
        XCTAssertTrue(onTSV.output.hasPrefix("seq2seq/ckpt.h5 at step 3 on val.tsv (\(sources.count) pairs): loss "), onTSV.description)
        XCTAssertTrue(onFiles.output.hasPrefix("seq2seq/ckpt.h5 at step 3 on val.en + val.it (\(sources.count) pairs): loss "),
                      onFiles.description)
        XCTAssertTrue(onTSV.errorOutput.contains("eval --pairs: skipped 1 of \(sources.count + 1) lines (0 with an empty side, 1 without a tab)"),
                      onTSV.description)
        let loss = try XCTUnwrap(onDataset.number(after: "loss "))
        for run in [onTSV, onFiles] {
            XCTAssertEqual(try XCTUnwrap(run.number(after: "loss ")), loss, accuracy: 1e-5, run.description)
            XCTAssertEqual(try XCTUnwrap(run.number(after: "perplexity ")), exp(loss), accuracy: 1e-3 * exp(loss))
            for name in ["bleu", "chrf", "cer", "wer"] {
                XCTAssertEqual(run.number(after: name + " "), onDataset.number(after: name + " "), "\(name): \(run.output) vs \(onDataset.output)")
            }
        }
        XCTAssertEqual(onTSV.output.components(separatedBy: "pairs): ").last, onFiles.output.components(separatedBy: "pairs): ").last)

        try fixture.assertFails(["eval", "--checkpoint", "gpt/ckpt.h5", "--pairs", "val.tsv"],
                                naming: ["a 'gpt' checkpoint; eval --pairs needs a seq2seq one"])
        try fixture.assertFails(["eval", "--checkpoint", "seq2seq/ckpt.h5", "--pairs", "missing.tsv"],
                                naming: ["eval --pairs: missing.tsv: no such file"])
        try fixture.assertFails(["eval", "--checkpoint", "seq2seq/ckpt.h5", "--pairs", "val.en", "val.it", "val.tsv"],
                                naming: ["--pairs takes one TSV file or two aligned files, got 3"])
        try fixture.assertFails(["eval", "--checkpoint", "seq2seq/ckpt.h5", "--pairs", "val.tsv", "--dataset", "pairs.h5"],
                                naming: ["--pairs goes without --dataset"])
        try fixture.assertFails(["eval", "--checkpoint", "seq2seq/ckpt.h5", "--split", "test"],
                                naming: ["pairs.h5 has no test split; prepare it with --test-fraction"])
        try fixture.assertFails(["eval", "--checkpoint", "gpt/ckpt.h5", "--split", "test"],
                                naming: ["a 'gpt' checkpoint; only translation datasets have a test split"])
        try fixture.assertFails(["eval", "--checkpoint", "seq2seq/ckpt.h5", "--split", "train"], naming: ["--split train is not val or test"])
    }

    func testInspectListsTheCheckpointsParameters() throws {
        let fixture = try CommandLineFixture.shared()
        let run = try fixture.run(["inspect", "gpt/ckpt.h5"])
        XCTAssertTrue(run.succeeded, run.description)
        XCTAssertEqual(run.lines.first?.hasPrefix("gpt/ckpt.h5: checkpoint (gpt), step 3, 192 tokens seen, seed 1337"), true,
                       run.description)
        let vocabulary = Set(fixture.corpus.unicodeScalars).count
        XCTAssertTrue(run.lines.contains("tokenizer: char, \(vocabulary) tokens"), run.description)
        let config = try ConfigLoader.load(path: nil, overrides: CommandLineFixture.gptSettings(runDirectory: "gpt"))
        let store = GPTModel.layout(config.resolvedModel, vocabulary: vocabulary).makeStore()
        for entry in store.entries {
            let line = run.lines.first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("/model/\(entry.name) ") }
            XCTAssertNotNil(line, "/model/\(entry.name) is not listed")
            XCTAssertEqual(line?.contains(" " + entry.shape.map(String.init).joined(separator: "×") + " "), true, line ?? "")
            XCTAssertEqual(line?.hasSuffix(" \(entry.count)"), true, line ?? "")
        }
        XCTAssertTrue(run.lines.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("total \(store.count) parameters") },
                      run.description)
        XCTAssertTrue(run.lines.contains { $0.hasPrefix("optimizer: adamw, step 3") }, run.description)
        XCTAssertTrue(run.lines.contains("config:") && run.lines.contains("    layers: 1"), run.description)
    }

    func testBenchListsTheKernelFamiliesThisCPURuns() throws {
        let fixture = try CommandLineFixture.shared()
        let run = try fixture.run(["bench", "kernels", "--list-kernels"])
        XCTAssertTrue(run.succeeded, run.description)
        XCTAssertEqual(run.lines, BLASKernel.runnable())
        if CPU.flags.contains("avx") { XCTAssertFalse(run.lines.isEmpty, "a CPU with AVX runs at least Sandybridge's kernels") }
    }

    // MARK: - --version, and a copy of the binary in another folder

    func testVersionNamesTheBuildAndTheLibrariesWithoutMPI() throws {
        let directory = try makeTemporaryDirectory("trainer-version")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let start = Date()
        let run = try TrainerExecutable.run(["--version"], in: directory)
        XCTAssertTrue(run.succeeded, run.description)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "--version starts no MPI job")
        XCTAssertEqual(run.lines.first, "trainer \(VersionReport.number)", run.description)
        let fields = run.lines.dropFirst().map { line in
            (String(line.prefix { $0 != ":" }), String(line.drop { $0 != ":" }.dropFirst(2)))
        }
        XCTAssertEqual(fields.map(\.0), ["commit", "swift", "blas", "kernel", "mpi", "hdf5"], run.description)
        let value = Dictionary(fields, uniquingKeysWith: { first, _ in first })
        let commit = value["commit"] ?? ""
        XCTAssertTrue(commit == "unknown" || commit.wholeMatch(of: /[0-9a-f]{12}(-dirty)?/) != nil, "commit: \(commit)")
        XCTAssertTrue(value["swift"]?.hasPrefix("Swift version 6.") == true, run.description)
        XCTAssertTrue(value["blas"]?.hasPrefix("OpenBLAS ") == true, run.description)
        XCTAssertTrue(value["kernel"]?.hasPrefix("OpenBLAS kernel \(BLASKernel.current)") == true
                      || value["kernel"]?.hasPrefix("OpenBLAS kernel ") == true, run.description)
        XCTAssertTrue(value["mpi"].map { !$0.isEmpty && !$0.hasPrefix("unknown") } == true, run.description)
        XCTAssertNotNil(value["hdf5"]?.firstMatch(of: /^\d+\.\d+\.\d+/), run.description)
    }

    /// What a cluster node sees: the binary alone, copied away from the build folder, run from a
    /// folder of its own. The default job prepares its dataset from the corpus inside the binary.
    func testACopyOfTheBinaryTrainsTheDefaultJobInAnotherFolder() throws {
        let directory = try makeTemporaryDirectory("trainer-copy")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binary = directory + "/bin/trainer", work = directory + "/work"
        for folder in [directory + "/bin", work] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        try FileManager.default.copyItem(atPath: try TrainerExecutable.location.get().path, toPath: binary)
        // Nothing in the binary looks for a resource bundle (SwiftPM's accessor names the build folder's).
        let bytes = try Data(contentsOf: URL(fileURLWithPath: binary))
        XCTAssertNil(bytes.range(of: Data("TrainerKit.resources".utf8)), "the binary still looks for a resource bundle")

        let run = try TrainerExecutable.run(["train", "--sample", "0"] + setOptions(["schedule.max_steps=2", "threads=1"]),
                                            in: work, executable: URL(fileURLWithPath: binary))
        XCTAssertTrue(run.succeeded, run.description)
        XCTAssertNotNil(run.line(startingWith: "preparing data/shakespeare_char.h5 from builtin:shakespeare.txt"), run.description)
        XCTAssertNotNil(run.line(startingWith: "done: 2 steps in "), run.description)
        XCTAssertTrue(FileManager.default.fileExists(atPath: work + "/runs/default/ckpt.h5"))
    }

    // MARK: - bad input

    func testConfigErrorsNameTheKeyAndTheValue() throws {
        let fixture = try CommandLineFixture.shared()
        _ = try writeText("optimizer:\n  lrr: 0.1\n", "typo.yaml", in: fixture.directory)
        let tiny = ["train", "--sample", "0"] + setOptions(CommandLineFixture.gptSettings(runDirectory: "rejected"))
        let cases: [(arguments: [String], fragments: [String])] = [
            (tiny + ["--set", "model.layers=0"], ["config: model.layers (0) must be positive"]),
            (tiny + ["--set", "model.layrs=2"], ["--set model.layrs=2", "unknown key 'model.layrs'", "(did you mean 'model.layers'?)"]),
            (tiny + ["--set", "model.layers=two"], ["--set model.layers=two", "model.layers: expected an integer, found 'two'"]),
            (tiny + ["--set", "data.micro_batch_size=3"],
             ["data.batch_size (4) is not divisible by data.micro_batch_size (3)"]),
            (tiny + ["--set", "blas_kernel=fast"], ["blas_kernel 'fast' is not auto, inherit or an OpenBLAS kernel"]),
            (["train", "--config", "typo.yaml"], ["config typo.yaml", "unknown key 'optimizer.lrr'", "(did you mean 'optimizer.lr'?)"]),
            (["train", "--config", "missing.yaml"], ["config missing.yaml: no such file"]),
        ]
        for (arguments, fragments) in cases { try fixture.assertFails(arguments, naming: fragments) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: fixture.directory + "/rejected"), "a rejected run wrote its folder")
    }

    func testFileErrorsNameTheFile() throws {
        let fixture = try CommandLineFixture.shared()
        _ = try writeText("", "empty.txt", in: fixture.directory)
        try FileManager.default.createDirectory(atPath: fixture.directory + "/elsewhere", withIntermediateDirectories: true)
        for (name, bytes) in [("latin1.txt", [0x63, 0x61, 0x66, 0xE9, 0x0A] as [UInt8]), ("binary.dat", [0x41, 0x09, 0xFF, 0xFE, 0x00, 0x10]),
                              ("nul.txt", [0x61, 0x09, 0x62, 0x0A, 0x00, 0x0A]), ("cut.txt", [0x61, 0x62, 0xE2, 0x82]),
                              ("surrogate.txt", [0x61, 0xED, 0xA0, 0x80, 0x0A]), ("overlong.txt", [0xC0, 0xAF, 0x0A])] {
            XCTAssertTrue(FileManager.default.createFile(atPath: fixture.directory + "/" + name, contents: Data(bytes)))
        }
        let cases: [(arguments: [String], fragments: [String])] = [
            (["sample", "--checkpoint", "missing.h5", "--threads", "1"], ["missing.h5: no such file"]),
            (["translate", "--checkpoint", "missing.h5", "--threads", "1", "hello"], ["missing.h5: no such file"]),
            (["attention", "--checkpoint", "missing.h5", "--threads", "1", "hello"], ["missing.h5: no such file"]),
            (["eval", "--checkpoint", "missing.h5", "--threads", "1"], ["missing.h5: no such file"]),
            (["inspect", "missing.h5"], ["missing.h5: no such file"]),
            (["inspect", "corpus.txt"], ["corpus.txt: not an HDF5 file"]),
            (["prepare", "--input", "missing.txt", "--output", "out.h5"], ["prepare: missing.txt: no such file"]),
            // A mistyped dataset path is not quietly built from the built-in corpus.
            (["train", "--set", "data.dataset=dta/typo.h5", "--set", "run_dir=typo"], ["data.dataset dta/typo.h5: no such file"]),
            // Sizes that cannot fit are refused before anything is allocated.
            (["train", "--set", "data.dataset=lm.h5", "--set", "model.channels=200000", "--set", "model.heads=8", "--set", "run_dir=huge"],
             ["config: training needs about", "lower model.channels or model.layers"]),
            (["train", "--set", "data.dataset=lm.h5", "--set", "model.layers=100000000", "--set", "run_dir=deep"],
             ["config: training needs about"]),
            (["prepare", "--input", "empty.txt", "--output", "out.h5"], ["prepare: empty.txt: empty corpus (0 bytes)"]),
            // Not UTF-8 text: Latin-1, random bytes, a NUL, a cut-off sequence, surrogates, overlong forms;
            // for the char and the word tokenizers alike, and directories given as corpora.
            (["prepare", "--input", "latin1.txt", "--output", "out.h5"], ["prepare: latin1.txt: not UTF-8 text (byte 0xE9 at offset 3)"]),
            (["prepare", "--input", "binary.dat", "--output", "out.h5"], ["prepare: binary.dat: not UTF-8 text (byte 0xFF at offset 2)"]),
            (["prepare", "--input", "nul.txt", "--output", "out.h5"], ["prepare: nul.txt: not a text file (a NUL byte at offset 4)"]),
            (["prepare", "--input", "cut.txt", "--output", "out.h5"], ["prepare: cut.txt: not UTF-8 text (byte 0xE2 at offset 2)"]),
            (["prepare", "--input", "surrogate.txt", "--output", "out.h5"], ["prepare: surrogate.txt: not UTF-8 text (byte 0xED at offset 1)"]),
            (["prepare", "--input", "overlong.txt", "--output", "out.h5"], ["prepare: overlong.txt: not UTF-8 text (byte 0xC0 at offset 0)"]),
            (["prepare", "--input", "binary.dat", "--output", "out.h5", "--tokenizer", "word"],
             ["prepare: binary.dat: not UTF-8 text (byte 0xFF at offset 2)"]),
            (["prepare", "--input", "latin1.txt", "--output", "out.h5", "--tokenizer", "bpe"],
             ["prepare: latin1.txt: not UTF-8 text (byte 0xE9 at offset 3)"]),
            (["prepare", "--input", "elsewhere", "--output", "out.h5"], ["prepare: elsewhere: a directory, not a corpus file"]),
            (["prepare", "--input", "elsewhere", "--output", "out.h5", "--tokenizer", "word"],
             ["prepare: elsewhere: a directory, not a corpus file"]),
            (["translate", "--checkpoint", "gpt/ckpt.h5", "--threads", "1", "hello"],
             ["gpt/ckpt.h5: a 'gpt' checkpoint; translate needs a seq2seq one"]),
            (["sample", "--checkpoint", "seq2seq/ckpt.h5", "--threads", "1"],
             ["seq2seq/ckpt.h5: a 'seq2seq' checkpoint; sample needs a gpt one"]),
            (["eval", "--checkpoint", "gpt/ckpt.h5", "--dataset", "pairs.h5", "--threads", "1"],
             ["pairs.h5: a 'parallel' dataset, but a language model needs 'lm'"]),
            (["sample", "--checkpoint", "gpt/ckpt.h5", "--prompt", "XYZ", "--threads", "1"],
             ["the prompt has characters outside the checkpoint's vocabulary"]),
        ]
        for (arguments, fragments) in cases { try fixture.assertFails(arguments, naming: fragments) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: fixture.directory + "/out.h5"), "a failed prepare wrote its output")
    }

    /// The checkpoint records its dataset's absolute path, so `eval` works from any folder; a
    /// checkpoint without it (older ones), or whose dataset moved, finds the dataset next to
    /// itself or in the folder it was trained in; a dataset found nowhere is one line naming
    /// every path tried and --dataset.
    func testEvalFindsTheCheckpointsDatasetFromAnyFolder() throws {
        let fixture = try CommandLineFixture.shared()
        let folder = fixture.directory
        try FileManager.default.createDirectory(atPath: folder + "/elsewhere", withIntermediateDirectories: true)
        let reader = try Checkpoint.Reader(path: folder + "/gpt/ckpt.h5")
        XCTAssertEqual(reader.stateAttribute("dataset"), "lm.h5", "as typed, as before")
        XCTAssertEqual(reader.stateAttribute("dataset_absolute"), URL(fileURLWithPath: folder + "/lm.h5").standardizedFileURL.path)
        let fromElsewhere = try fixture.run(["eval", "--checkpoint", "../gpt/ckpt.h5", "--threads", "1"], in: "elsewhere")
        XCTAssertTrue(fromElsewhere.succeeded, fromElsewhere.description)
        XCTAssertEqual(fromElsewhere.number(after: "loss "), try fixture.run(["eval", "--checkpoint", "gpt/ckpt.h5", "--threads", "1"])
            .number(after: "loss "))

        // Without the absolute path (as older checkpoints): found in the folder training ran in
        // (the checkpoint's folder less run_dir "gpt"), then next to the checkpoint.
        func copyWithoutAbsolutePath(to name: String, recorded: String) throws {
            try FileManager.default.createDirectory(atPath: folder + "/" + name, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: folder + "/gpt/ckpt.h5", toPath: folder + "/\(name)/ckpt.h5")
            let file = try HDF5File(path: folder + "/\(name)/ckpt.h5", mode: .readWrite)
            try file.group("state").setAttribute("dataset_absolute", recorded)
            try file.close()
        }
        try copyWithoutAbsolutePath(to: "moved/gpt", recorded: "")
        try FileManager.default.copyItem(atPath: folder + "/lm.h5", toPath: folder + "/moved/lm.h5")
        let inferred = try fixture.run(["eval", "--checkpoint", "../moved/gpt/ckpt.h5", "--threads", "1"], in: "elsewhere")
        XCTAssertTrue(inferred.succeeded, inferred.description)
        XCTAssertTrue(inferred.output.contains("/moved/lm.h5 (validation"), inferred.description)
        try copyWithoutAbsolutePath(to: "bundle", recorded: folder + "/gone/lm.h5")
        try FileManager.default.copyItem(atPath: folder + "/lm.h5", toPath: folder + "/bundle/lm.h5")
        let beside = try fixture.run(["eval", "--checkpoint", "../bundle/ckpt.h5", "--threads", "1"], in: "elsewhere")
        XCTAssertTrue(beside.succeeded, beside.description)
        XCTAssertTrue(beside.output.contains("/bundle/lm.h5 (validation"), beside.description)

        try copyWithoutAbsolutePath(to: "lost", recorded: folder + "/gone/lm.h5")
        try fixture.assertFails(["eval", "--checkpoint", "../lost/ckpt.h5", "--threads", "1"], in: "elsewhere",
                                naming: ["eval: the checkpoint's dataset lm.h5 is not found (tried ", folder + "/gone/lm.h5",
                                         "/lost/lm.h5", "/elsewhere/lm.h5", "pass --dataset PATH"])
        let explicit = try fixture.run(["eval", "--checkpoint", "../lost/ckpt.h5", "--dataset", "../lm.h5", "--threads", "1"],
                                       in: "elsewhere")
        XCTAssertTrue(explicit.succeeded, explicit.description)
        try fixture.assertFails(["eval", "--checkpoint", "gpt/ckpt.h5", "--dataset", "nothing.h5"],
                                naming: ["eval: --dataset nothing.h5: no such file"])
    }

    func testResumeErrorsNameTheCheckpoint() throws {
        let fixture = try CommandLineFixture.shared()
        try FileManager.default.copyItem(atPath: fixture.directory + "/gpt", toPath: fixture.directory + "/other-model")
        try fixture.assertFails(["train", "--resume"] + setOptions(CommandLineFixture.gptSettings(runDirectory: "fresh")),
                                naming: ["fresh/ckpt.h5: no checkpoint to resume"])
        try fixture.assertFails(["train", "--resume"]
                                + setOptions(CommandLineFixture.gptSettings(runDirectory: "other-model", maxSteps: 5))
                                + ["--set", "model.layers=2"],
                                naming: ["other-model/ckpt.h5: model config differs from the checkpoint's"])
        XCTAssertEqual(try Checkpoint.Reader(path: fixture.directory + "/other-model/ckpt.h5").header.step, 3,
                       "the refused resume left the checkpoint alone")
    }

    /// One run per run directory, no checkpoint replaced by accident, `--resume auto`, and what a
    /// `kill -9` leaves (temporaries of dead processes, metrics of steps after the checkpoint)
    /// cleaned up when the run continues.
    func testRunDirectoryIsLockedAndNeverReplacedByAccident() throws {
        let fixture = try CommandLineFixture.shared()
        let settings = { (dir: String, steps: Int) in setOptions(CommandLineFixture.gptSettings(runDirectory: dir, maxSteps: steps)) }
        try FileManager.default.copyItem(atPath: fixture.directory + "/gpt", toPath: fixture.directory + "/kept")
        // Training again over a checkpoint without --resume or --overwrite is refused, and the
        // checkpoint is untouched.
        try fixture.assertFails(["train", "--sample", "0"] + settings("kept", 5),
                                naming: ["kept/ckpt.h5 exists (step 3)", "--resume", "--overwrite"])
        XCTAssertEqual(try Checkpoint.Reader(path: fixture.directory + "/kept/ckpt.h5").header.step, 3)
        // A run holding the lock (this process) keeps a second one out, which names the holder.
        do {
            let held = try RunDirectory(path: fixture.directory + "/kept")
            try fixture.assertFails(["train", "--resume", "--sample", "0"] + settings("kept", 5),
                                    naming: ["run_dir kept is in use by another run (PID \(getpid())", "kept/.lock"])
            _ = held
        }
        // What a kill -9 leaves: a temporary file of a dead process, and metrics of steps after
        // the checkpoint (step 3). --resume auto continues, removes the one, truncates the other.
        let dead = fixture.directory + "/kept/.ckpt.h5.tmp-999999"
        XCTAssertTrue(FileManager.default.createFile(atPath: dead, contents: Data("partial".utf8)))
        let metrics = fixture.directory + "/kept/metrics.jsonl"
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: metrics))
        handle.seekToEndOfFile()
        handle.write(Data("{\"step\": 3, \"loss\": 9.0}\n{\"step\": 4, \"loss\": 9.0}\n".utf8))
        try handle.close()
        let resumed = try fixture.run(["train", "--resume", "auto", "--sample", "0"] + settings("kept", 5))
        XCTAssertTrue(resumed.succeeded, resumed.description)
        XCTAssertTrue(resumed.lines.contains("resuming from kept/ckpt.h5 (--resume auto)"), resumed.description)
        XCTAssertNotNil(resumed.line(startingWith: "removed temporary files of processes that no longer run: .ckpt.h5.tmp-999999"),
                        resumed.description)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
        let steps = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("\"loss\": ") && !$0.contains("val_loss") }.compactMap { line -> Int? in
                guard let range = line.range(of: "\"step\": ") else { return nil }
                return Int(line[range.upperBound...].prefix { $0.isNumber })
            }
        XCTAssertEqual(steps, [0, 1, 2, 3, 4], "each step once in metrics.jsonl")
        // --resume auto without a checkpoint starts; --overwrite starts over.
        let started = try fixture.run(["train", "--resume", "auto", "--sample", "0"] + settings("auto-new", 2))
        XCTAssertTrue(started.succeeded && started.lines.contains("no auto-new/ckpt.h5 yet: starting (--resume auto)"), started.description)
        let over = try fixture.run(["train", "--overwrite", "--sample", "0"] + settings("kept", 2))
        XCTAssertTrue(over.succeeded, over.description)
        XCTAssertEqual(try Checkpoint.Reader(path: fixture.directory + "/kept/ckpt.h5").header.step, 2)
        try fixture.assertFails(["train", "--resume", "--overwrite"] + settings("kept", 2), naming: ["--resume and --overwrite"])
    }

    /// Files that are well-formed HDF5 but hold what must not be trusted: float token ids (HDF5
    /// would truncate them), a negative step (a negative learning rate), non-finite weights.
    func testFilesWithWrongValuesAreRefused() throws {
        let fixture = try CommandLineFixture.shared()
        let folder = fixture.directory + "/wrong"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Float tokens.
        try FileManager.default.copyItem(atPath: fixture.directory + "/lm.h5", toPath: folder + "/float.h5")
        do {
            let file = try HDF5File(path: folder + "/float.h5", mode: .readWrite)
            let tokens = try file.read("train/tokens", as: Float.self).map { $0 + 0.5 }
            try file.group("train").remove("tokens")
            try tokens.withUnsafeBufferPointer { _ = try file.group("train").write("tokens", $0, shape: [tokens.count]) }
            try file.close()
        }
        try fixture.assertFails(["train", "--set", "data.dataset=wrong/float.h5", "--set", "run_dir=wrong/run"],
                                naming: ["wrong/float.h5: /train/tokens holds float32 values; it must hold integers"])
        // A negative step, and NaN weights.
        try FileManager.default.copyItem(atPath: fixture.directory + "/gpt/ckpt.h5", toPath: folder + "/step.h5")
        do {
            let file = try HDF5File(path: folder + "/step.h5", mode: .readWrite)
            try file.setAttribute("step", Int64(-5))
            try file.close()
        }
        try fixture.assertFails(["sample", "--checkpoint", "wrong/step.h5", "--threads", "1"],
                                naming: ["wrong/step.h5: the attribute step is -5; it must be 0 or more"])
        try FileManager.default.copyItem(atPath: fixture.directory + "/gpt/ckpt.h5", toPath: folder + "/nan.h5")
        do {
            let file = try HDF5File(path: folder + "/nan.h5", mode: .readWrite)
            let name = try XCTUnwrap(try file.group("model").datasetPaths().first)
            let dataset = try file.group("model").dataset(name), rank = try dataset.shape.count
            let nan: [Float] = [.nan]
            try nan.withUnsafeBufferPointer {
                try dataset.write($0, offset: Array(repeating: 0, count: rank), count: Array(repeating: 1, count: rank))
            }
            try file.close()
        }
        try fixture.assertFails(["sample", "--checkpoint", "wrong/nan.h5", "--threads", "1"],
                                naming: ["wrong/nan.h5: /model/", "holds nan at element 0; a checkpoint's values must be finite"])
        // Options that are numbers but not usable ones.
        try fixture.assertFails(["translate", "--checkpoint", "seq2seq/ckpt.h5", "--length-penalty", "nan", "hello"],
                                naming: ["--length-penalty nan must be a finite number"])
        try fixture.assertFails(["sample", "--checkpoint", "gpt/ckpt.h5", "--temperature", "inf"],
                                naming: ["--temperature inf must be a finite number, 0 or more"])
        try fixture.assertFails(["sample", "--checkpoint", "gpt/ckpt.h5", "--threads", "0"], naming: ["--threads must be at least 1"])
    }

    /// `eval --text`: any text, scored with the checkpoint's tokenizer; unknown characters counted.
    func testEvalScoresAnyTextWithTheCheckpointsTokenizer() throws {
        let fixture = try CommandLineFixture.shared()
        _ = try writeText("the lazy dog sleeps while the cat jumps over the fox\nthé end\n", "unseen.txt", in: fixture.directory)
        let run = try fixture.run(["eval", "--checkpoint", "gpt/ckpt.h5", "--text", "unseen.txt", "--threads", "1"])
        XCTAssertTrue(run.succeeded, run.description)
        let line = try XCTUnwrap(run.line(startingWith: "gpt/ckpt.h5 at step 3 on unseen.txt: 61 characters, 59 scored"), run.description)
        XCTAssertTrue(line.contains("skipped 1 characters outside the checkpoint's vocabulary (1 × \"é\")"), line)
        XCTAssertNotNil(run.number(after: "bits per character "))
        try fixture.assertFails(["eval", "--checkpoint", "seq2seq/ckpt.h5", "--text", "unseen.txt"],
                                naming: ["a 'seq2seq' checkpoint; eval --text needs a gpt one"])
        // prepare --tokenizer-from: a dataset of the unseen text with the checkpoint's tokenizer,
        // which eval then accepts (a dataset with its own, smaller vocabulary is refused).
        let prepared = try fixture.run(["prepare", "--input", "unseen.txt", "--output", "unseen.h5", "--tokenizer-from", "gpt/ckpt.h5"])
        XCTAssertTrue(prepared.succeeded, prepared.description)
        XCTAssertTrue(prepared.output.contains("skipped 1 characters outside the checkpoint's vocabulary (1 × \"é\")"),
                      prepared.description)
        let onPrepared = try fixture.run(["eval", "--checkpoint", "gpt/ckpt.h5", "--dataset", "unseen.h5", "--full", "--threads", "1"])
        XCTAssertTrue(onPrepared.succeeded, onPrepared.description)
        XCTAssertNotNil(onPrepared.number(after: "loss "), onPrepared.description)
        XCTAssertTrue(try fixture.run(["prepare", "--input", "unseen.txt", "--output", "own.h5"]).succeeded)
        try fixture.assertFails(["eval", "--checkpoint", "gpt/ckpt.h5", "--dataset", "own.h5"],
                                naming: ["own.h5: its tokenizer (char,", "prepare the text with trainer prepare --tokenizer-from gpt/ckpt.h5"])
        // eval --full: every target of the validation split once, the same loss at any thread count.
        let full = try fixture.run(["eval", "--checkpoint", "gpt/ckpt.h5", "--full", "--threads", "1"])
        XCTAssertTrue(full.succeeded, full.description)
        XCTAssertNotNil(full.line(startingWith: "gpt/ckpt.h5 at step 3 on") , full.description)
        XCTAssertTrue(full.output.contains("windows of up to 16 (every target once)"), full.description)
        let twoThreads = try fixture.run(["eval", "--checkpoint", "gpt/ckpt.h5", "--full", "--threads", "2"])
        XCTAssertEqual(full.number(after: "loss "), twoThreads.number(after: "loss "), twoThreads.description)
        XCTAssertEqual(full.errorOutput, "", "no progress line without a terminal")
        let greedy = try fixture.run(["sample", "--checkpoint", "gpt/ckpt.h5", "--temperature", "0", "--tokens", "20", "--threads", "1"])
        let topOne = try fixture.run(["sample", "--checkpoint", "gpt/ckpt.h5", "--top-k", "1", "--tokens", "20", "--threads", "1"])
        XCTAssertTrue(greedy.succeeded, greedy.description)
        XCTAssertEqual(greedy.output, topOne.output, "temperature 0 is greedy, as top-k 1")
    }

    func testADatasetShorterThanTheBlockIsRefused() throws {
        let fixture = try CommandLineFixture.shared()
        _ = try writeText("abcabcabcabcabcabcab", "short.txt", in: fixture.directory)
        let prepare = try fixture.run(["prepare", "--input", "short.txt", "--output", "short.h5"])
        XCTAssertTrue(prepare.succeeded, prepare.description)
        try fixture.assertFails(["train", "--sample", "0"] + setOptions(CommandLineFixture.gptSettings(runDirectory: "short"))
                                + ["--set", "data.dataset=short.h5"],
                                naming: ["short.h5: the val split has 2 tokens, fewer than block_size + 1 = 17"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: fixture.directory + "/short/ckpt.h5"))
    }
}

// MARK: - Running the trainer

/// Config overrides as `--set key=value` options.
private func setOptions(_ overrides: [String]) -> [String] { overrides.flatMap { ["--set", $0] } }

/// A finished `trainer` process: how it ended and what it printed.
private struct TrainerRun: Sendable, CustomStringConvertible {
    var arguments: [String]
    /// The exit status, or the signal's number when `crashed`.
    var status: Int32
    /// Ended by a signal (a trap, a crash, a timeout) instead of exiting.
    var crashed: Bool
    var output: String
    var errorOutput: String

    var succeeded: Bool { !crashed && status == 0 }

    /// Standard error's lines, without translate's rate line ("translate: N sentences in ...", only with --timing).
    var notes: [String] {
        errorOutput.components(separatedBy: "\n").filter { !$0.isEmpty && !($0.hasPrefix("translate: ") && $0.contains(" sentences/s ")) }
    }

    /// Standard output's lines, without the empty piece after the final newline.
    var lines: [String] {
        var lines = output.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// The first line of standard output that starts with `prefix`.
    func line(startingWith prefix: String) -> String? { lines.first { $0.hasPrefix(prefix) } }

    /// The number right after the first occurrence of `label` in standard output.
    func number(after label: String) -> Double? {
        guard let range = output.range(of: label) else { return nil }
        let digits = output[range.upperBound...].prefix { $0.isNumber || $0 == "." || $0 == "-" || $0 == "e" }
        return Double(digits.hasSuffix(".") ? String(digits.dropLast()) : String(digits))
    }

    var description: String {
        "trainer \(arguments.joined(separator: " ")): \(crashed ? "killed by signal" : "exit status") \(status)\n"
            + "--- standard output:\n\(output)--- standard error:\n\(errorOutput)---"
    }
}

/// A test-setup failure with a message that says what to do.
private struct CommandLineTestError: Error, CustomStringConvertible {
    var description: String
}

private enum TrainerExecutable {
    /// The `trainer` built next to this test bundle (same build folder and configuration), or
    /// `TRAINER_EXECUTABLE` when set.
    static let location: Result<URL, CommandLineTestError> = find()

    private static func find() -> Result<URL, CommandLineTestError> {
        var folders: [URL] = []
        if let explicit = ProcessInfo.processInfo.environment["TRAINER_EXECUTABLE"] {
            return FileManager.default.isExecutableFile(atPath: explicit)
                ? .success(URL(fileURLWithPath: explicit))
                : .failure(CommandLineTestError(description: "TRAINER_EXECUTABLE=\(explicit) is not an executable file"))
        }
        // Linux: the test binary is .build/<configuration>/trainerPackageTests.xctest, and the bundle
        // is its folder. macOS: the bundle is .build/<configuration>/trainerPackageTests.xctest.
        let bundle = Bundle(for: CommandLineTests.self)
        folders.append(bundle.bundleURL)
        folders.append(bundle.bundleURL.deletingLastPathComponent())
        if let executable = Bundle.main.executableURL { folders.append(executable.deletingLastPathComponent()) }
        if let first = CommandLine.arguments.first {
            folders.append(URL(fileURLWithPath: first).resolvingSymlinksInPath().deletingLastPathComponent())
        }
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            folders.append(URL(fileURLWithPath: path).deletingLastPathComponent())
        }
        #endif
        var tried: [String] = []
        for folder in folders {
            let candidate = folder.appendingPathComponent("trainer").standardizedFileURL
            guard !tried.contains(candidate.path) else { continue }
            tried.append(candidate.path)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate.path) {
                return .success(candidate)
            }
        }
        return .failure(CommandLineTestError(description:
            "the trainer executable is not next to the test bundle (tried \(tried.joined(separator: ", "))); build it with "
            + "`swift build -c release --build-tests` (or set TRAINER_EXECUTABLE)"))
    }

    /// Runs the trainer (or `executable`) with `arguments` in `directory`, `input` on standard input (else nothing),
    /// `OPENBLAS_NUM_THREADS=1`, and none of the variables an MPI job gives its processes (this
    /// test process may have started MPI; its children are single processes of their own).
    /// Standard output and error go to files, so no pipe can fill up and block the child.
    static func run(_ arguments: [String], in directory: String, input: String? = nil,
                    timeout: TimeInterval = 120, executable: URL? = nil) throws -> TrainerRun {
        let executable = try executable ?? location.get()
        let scratch = try makeTemporaryDirectory("trainer-run")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let outputPath = scratch + "/stdout", errorPath = scratch + "/stderr", inputPath = scratch + "/stdin"
        for (path, contents) in [(outputPath, ""), (errorPath, "")] + (input.map { [(inputPath, $0)] } ?? []) {
            guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8)) else {
                throw CommandLineTestError(description: "cannot create \(path)")
            }
        }
        let outputFile = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let errorFile = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        var inputFile = FileHandle.nullDevice
        if input != nil {
            inputFile = try FileHandle(forReadingFrom: URL(fileURLWithPath: inputPath))
        }

        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let mpiPrefixes = ["OMPI_", "PMIX_", "OPAL_", "ORTE_", "PMI_"]
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in !mpiPrefixes.contains { key.hasPrefix($0) } }
        environment["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = environment
        process.standardInput = inputFile
        process.standardOutput = outputFile
        process.standardError = errorFile
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        let timedOut = process.isRunning
        if timedOut { process.terminate() }
        process.waitUntilExit()
        try outputFile.close()
        try errorFile.close()
        if input != nil { try inputFile.close() }

        let run = TrainerRun(arguments: arguments, status: process.terminationStatus,
                             crashed: process.terminationReason != .exit,
                             output: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
                             errorOutput: (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
        if timedOut { throw CommandLineTestError(description: "timed out after \(Int(timeout)) s: \(run)") }
        return run
    }
}

// MARK: - The shared fixture

private let sharedFixture = CommandLineFixture.Holder()

/// A folder with a character corpus and its dataset, a toy parallel corpus and its dataset, and
/// a GPT and an encoder–decoder trained for three steps on them, all made by `trainer`.
private final class CommandLineFixture: Sendable {
    let directory: String
    /// The text of corpus.txt.
    let corpus: String
    let prepareCorpus, trainGPT, generatePairs, prepareParallel, trainSeq2Seq: TrainerRun

    /// The tiny GPT's config overrides: one block of 16 channels over 16 positions, 2
    /// micro-batches of 2 sequences, a learning-rate schedule that does not depend on the length
    /// of the run (no warm-up, decay over 8 steps), one evaluation batch at the end.
    static func gptSettings(runDirectory: String, maxSteps: Int = 3) -> [String] {
        [
            "model.layers=1", "model.channels=16", "model.heads=2", "model.positions=16", "data.block_size=16",
            "data.batch_size=4", "data.micro_batch_size=2", "optimizer.lr=1e-2", "schedule.warmup=0",
            "schedule.decay_steps=8", "schedule.max_steps=\(maxSteps)", "eval.interval=0", "eval.batches=1", "threads=1",
            "data.dataset=lm.h5", "run_dir=\(runDirectory)",
        ]
    }

    /// The tiny encoder–decoder's config overrides: one encoder and one decoder block of 16 channels.
    static let seq2seqSettings = [
        "model.kind=seq2seq", "model.layers=1", "model.channels=16", "model.heads=2", "model.positions=16",
        "data.block_size=16", "data.batch_size=4", "data.micro_batch_size=2", "schedule.max_steps=3", "eval.interval=0",
        "eval.batches=1", "threads=1", "data.dataset=pairs.h5", "run_dir=seq2seq",
    ]

    /// The fixture, made on first use (a failure is reported by every test that needs it).
    static func shared() throws -> CommandLineFixture { try sharedFixture.fixture() }

    private init(directory: String, corpus: String, runs: [TrainerRun]) {
        self.directory = directory
        self.corpus = corpus
        (prepareCorpus, trainGPT, generatePairs, prepareParallel, trainSeq2Seq) = (runs[0], runs[1], runs[2], runs[3], runs[4])
    }

    /// Writes the corpus and runs the five commands; removes the folder again if one fails.
    private static func make() throws -> CommandLineFixture {
        let directory = try makeTemporaryDirectory("trainer-cli")
        do {
            return try make(in: directory)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    private static func make(in directory: String) throws -> CommandLineFixture {
        // 150 lines of 8 words from a small list: lower-case letters, spaces and newlines.
        let words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "cat", "sleeps", "while"]
        var random = TestRandom(seed: 21)
        let corpus = (0 ..< 150).map { _ in (0 ..< 8).map { _ in words[Int(random.next() % UInt64(words.count))] }
            .joined(separator: " ") }.joined(separator: "\n") + "\n"
        _ = try writeText(corpus, "corpus.txt", in: directory)

        func succeeding(_ arguments: [String]) throws -> TrainerRun {
            let run = try TrainerExecutable.run(arguments, in: directory)
            guard run.succeeded else { throw CommandLineTestError(description: "making the fixture failed: \(run)") }
            return run
        }
        let runs = [
            try succeeding(["prepare", "--input", "corpus.txt", "--output", "lm.h5"]),
            try succeeding(["train", "--sample", "0"] + setOptions(gptSettings(runDirectory: "gpt"))),
            try succeeding(["prepare", "--generate", "toy-en-it", "--pairs", "200", "--output", "pairs.tsv"]),
            try succeeding(["prepare", "--input", "pairs.tsv", "--output", "pairs.h5", "--tokenizer", "word", "--max-length", "16"]),
            try succeeding(["train", "--sample", "0"] + setOptions(seq2seqSettings)),
        ]
        return CommandLineFixture(directory: directory, corpus: corpus, runs: runs)
    }

    /// Runs the trainer in the fixture's folder (or a folder inside it).
    func run(_ arguments: [String], in subfolder: String? = nil, input: String? = nil) throws -> TrainerRun {
        try TrainerExecutable.run(arguments, in: subfolder.map { directory + "/" + $0 } ?? directory, input: input)
    }

    /// Asserts that the trainer exits with status 1 (not a crash) and writes exactly one line to
    /// standard error, `error: ...`, holding every one of `fragments`.
    func assertFails(_ arguments: [String], in subfolder: String? = nil, naming fragments: [String],
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let run = try run(arguments, in: subfolder)
        XCTAssertFalse(run.crashed, run.description, file: file, line: line)
        XCTAssertEqual(run.status, 1, run.description, file: file, line: line)
        let errorLines = run.errorOutput.components(separatedBy: "\n").filter { !$0.isEmpty }
        XCTAssertEqual(errorLines.count, 1, "one line on standard error: \(run.description)", file: file, line: line)
        XCTAssertEqual(errorLines.first?.hasPrefix("error: "), true, run.description, file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(run.errorOutput.contains(fragment), "'\(fragment)' is missing: \(run.description)", file: file, line: line)
        }
    }

    /// Makes the fixture once, and removes its folder when the class is done.
    final class Holder: @unchecked Sendable {
        private let lock = NSLock()
        private var made: Result<CommandLineFixture, any Error>?

        func fixture() throws -> CommandLineFixture {
            lock.lock()
            defer { lock.unlock() }
            if made == nil { made = Result { try CommandLineFixture.make() } }
            return try made!.get()
        }

        func remove() {
            lock.lock()
            defer { lock.unlock() }
            if case .success(let fixture)? = made { try? FileManager.default.removeItem(atPath: fixture.directory) }
            made = nil
        }
    }
}
