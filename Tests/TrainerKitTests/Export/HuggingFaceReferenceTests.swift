import Foundation
import XCTest
import TrainerKit

/// The export against Hugging Face's own libraries (launch/reference/hf_logits.py): the GPT-2
/// folder loads in `transformers.GPT2LMHeadModel` and gives our logits, the safetensors files load
/// in `safetensors` with our values, and the tokenizer files tokenize as ours do.
///
/// Optional: skipped, saying why, unless a Python with torch, transformers, safetensors and
/// tokenizers is found: `TRAINER_HF_PYTHON`, else `.build/venv-hf/bin/python` of this package or,
/// in a git worktree, of the main checkout (see the README for making that venv).
final class HuggingFaceReferenceTests: XCTestCase {
    /// The package root (this file is Tests/TrainerKitTests/Export/<name>.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// The Python to use, or why there is none.
    static let python: Result<String, XCTSkip> = findPython()

    private static func findPython() -> Result<String, XCTSkip> {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["TRAINER_HF_PYTHON"] {
            candidates = [explicit]
        } else {
            candidates.append(packageRoot + "/.build/venv-hf/bin/python")
            // A worktree's .git is a file: "gitdir: <main checkout>/.git/worktrees/<name>".
            if let link = try? String(contentsOfFile: packageRoot + "/.git", encoding: .utf8), link.hasPrefix("gitdir: "),
               let range = link.range(of: "/.git/worktrees/") {
                candidates.append(String(link.dropFirst(8)[..<range.lowerBound]) + "/.build/venv-hf/bin/python")
            }
        }
        guard let python = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failure(XCTSkip("no Python for the Hugging Face check (tried \(candidates.joined(separator: ", "))); set TRAINER_HF_PYTHON or make the venv as the README says"))
        }
        do {
            let run = try runProcess(python, ["-c", "import torch, transformers, safetensors, tokenizers, numpy"], timeout: 120)
            guard run.status == 0 else {
                let reason = run.errorOutput.split(separator: "\n").last.map(String.init) ?? "exit status \(run.status)"
                return .failure(XCTSkip("\(python) cannot import the Hugging Face libraries: \(reason)"))
            }
        } catch {
            return .failure(XCTSkip("\(python) does not run: \(error)"))
        }
        return .success(python)
    }

    /// The tiny GPT-2 of the check: 2 blocks of 32 channels over 4 heads, feed-forward 80 (not
    /// 4·C, so `n_inner` matters), 16 positions, and a layer-norm epsilon of 1e-3 instead of 1e-5,
    /// so that a wrong `layer_norm_epsilon` would show in the logits.
    static func config() -> ModelConfig {
        var config = modelConfig(positions: 16, channels: 32, heads: 4, layers: 2, feedForward: 80, activation: .geluTanh)
        config.normEpsilon = 1e-3
        return config
    }

    static let texts = [
        "First Citizen:\nBefore we proceed any further, hear me speak.",
        "  two  spaces\tand\ttabs\n\n\nnew lines \n",
        "don't we'll they're I'M you've",
        "naïve café, 日本語 テキスト 🙂 €5.00 — «quotes»",
        "numbers 12345 and 3.14159, under_score x__y",
        "literal [PAD] and [EOS] in the text",
        "",
    ]

    func testTransformersLoadsTheExportAndComputesOurLogits() throws {
        let python = try Self.python.get()
        let directory = try makeTemporaryDirectory("hf-reference")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let corpus = "First Citizen:\nBefore we proceed any further, hear me speak.\nAll: Speak, speak.\n"
        let chars = CharTokenizer(scalars: Set(corpus.unicodeScalars.map(\.value)))
        let config = Self.config()
        let parameters = GPTModel.layout(config, vocabulary: chars.count).makeStore()
        randomize(parameters, seed: 11)
        let checkpoint = directory + "/ckpt.h5"
        try writeCheckpoint(to: checkpoint, model: config, parameters: parameters, tokenizer: chars.write(to:))
        let gpt2 = directory + "/gpt2", ours = directory + "/ours"
        _ = try ModelExport.export(checkpoint: checkpoint, names: .huggingfaceGPT2, output: gpt2)
        _ = try ModelExport.export(checkpoint: checkpoint, names: .trainer, output: ours)

        // Our logits for two sequences of 16 tokens.
        let B = 2, T = 16, V = chars.count
        var random = TestRandom(seed: 5)
        let tokens = random.tokens(B * T, below: V)
        let model = GPTModel(config: config, vocabulary: V, limits: ActivationLimits(batch: B, time: T), parameters: parameters)
        _ = tokens.withUnsafeBufferPointer {
            model.forward(tokens: $0.baseAddress!, targets: nil, batch: B, time: T, parallelism: .serial)
        }

        // Tokenizers: the model's (char), and a BPE and a word tokenizer trained on some text.
        let training = Self.texts + [corpus, "the cat sat on the mat; the cat's hat is naïve"]
        let bpe = BPETokenizer.train(texts: training, vocabularySize: 330, minimumFrequency: 1)
        let words = WordTokenizer.train(texts: training, minimumFrequency: 1, maximumSize: 40)
        var tokenizerRequests: [[String: Any]] = [["folder": gpt2, "texts": Self.texts]]
        for (name, tokenizer) in [("bpe", bpe as Tokenizer), ("word", words)] {
            let folder = directory + "/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for file in HuggingFaceTokenizer.files(for: tokenizer, maximumLength: 64) {
                try file.contents.write(toFile: folder + "/" + file.name, atomically: true, encoding: .utf8)
            }
            tokenizerRequests.append(["folder": folder, "texts": Self.texts])
        }

        let request: [String: Any] = [
            "gpt2_folder": gpt2, "tokens": stride(from: 0, to: B * T, by: T).map { Array(tokens[$0 ..< $0 + T]) },
            "trainer_file": ours + "/model.safetensors", "tokenizers": tokenizerRequests,
        ]
        let requestPath = directory + "/request.json"
        try JSONSerialization.data(withJSONObject: request).write(to: URL(fileURLWithPath: requestPath))
        let script = Self.packageRoot + "/launch/reference/hf_logits.py"
        let run = try runProcess(python, [script, requestPath], timeout: 600)
        XCTAssertEqual(run.status, 0, run.errorOutput)
        let reply = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any],
                                  "hf_logits.py printed no JSON: \(run.output.suffix(500)) \(run.errorOutput.suffix(2000))")
        let versions = (reply["versions"] as? [String: String] ?? [:]).sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")

        // The model: loaded without missing or unexpected tensors, head tied, same logits.
        let loading = try XCTUnwrap(reply["loading"] as? [String: [String]])
        for (key, names) in loading { XCTAssertEqual(names, [], key) }
        XCTAssertEqual(reply["tied"] as? Bool, true)
        XCTAssertEqual((reply["gpt2_metadata"] as? [String: String])?["format"], "pt")
        let theirs = try XCTUnwrap(reply["logits"] as? [[[Double]]])
        XCTAssertEqual(theirs.count, B)
        var largest = 0.0, worst = 0.0, scale = 0.0
        for b in 0 ..< B {
            XCTAssertEqual(theirs[b].count, T)
            for t in 0 ..< T {
                XCTAssertEqual(theirs[b][t].count, V)
                for v in 0 ..< V {
                    let ourValue = Double(model.logits[(b * T + t) * V + v])
                    worst = max(worst, abs(theirs[b][t][v] - ourValue))
                    scale = max(scale, abs(ourValue))
                    largest = max(largest, abs(theirs[b][t][v]))
                }
            }
        }
        print("HuggingFaceReferenceTests: max |logit difference| \(worst) over \(B)×\(T)×\(V) logits up to \(scale) in magnitude (\(versions))")
        XCTAssertGreaterThan(scale, 1, "logits large enough for the comparison to mean something")
        XCTAssertLessThan(worst, 1e-4, "max |logit difference| against transformers (\(versions))")

        // Our names, read by safetensors: every tensor, bit for bit.
        let tensors = try XCTUnwrap(reply["trainer_tensors"] as? [String: [String: Any]])
        XCTAssertEqual(Set(tensors.keys), Set(parameters.entries.map { $0.name.replacingOccurrences(of: "/", with: ".") }))
        for entry in parameters.entries {
            let tensor = try XCTUnwrap(tensors[entry.name.replacingOccurrences(of: "/", with: ".")])
            XCTAssertEqual(tensor["shape"] as? [Int], entry.shape, entry.name)
            let values = try XCTUnwrap(tensor["values"] as? [Double]).map(Float.init)
            let expected = UnsafeBufferPointer(start: parameters.values.pointer + entry.offset, count: entry.count)
            XCTAssertEqual(values.map(\.bitPattern), expected.map(\.bitPattern), entry.name)
        }

        // Tokenizers: the same ids, the same text back (word: pieces joined with spaces, see
        // HuggingFaceTokenizer).
        let replies = try XCTUnwrap(reply["tokenizers"] as? [[String: Any]])
        XCTAssertEqual(replies.count, 3)
        for (tokenizer, answer) in zip([chars as Tokenizer, bpe, words], replies) {
            let ids = try XCTUnwrap(answer["ids"] as? [[Int]]), raw = try XCTUnwrap(answer["raw_ids"] as? [[Int]])
            let decoded = try XCTUnwrap(answer["decoded"] as? [String])
            let specials = tokenizer.specials.map { [$0.pad, $0.sos, $0.eos, $0.unk].map { tokenizer.vocabulary[Int($0)] } } ?? []
            for (index, text) in Self.texts.enumerated() {
                let expected = tokenizer.encode(text).map(Int.init)
                XCTAssertEqual(ids[index], expected, "\(tokenizer.kind) via transformers: \(text.debugDescription)")
                // Bare `tokenizers` reads the special tokens' strings as the special tokens.
                if !specials.contains(where: text.contains) {
                    XCTAssertEqual(raw[index], expected, "\(tokenizer.kind) via tokenizers: \(text.debugDescription)")
                }
                let back = tokenizer is WordTokenizer
                    ? expected.filter { $0 >= 4 }.map { tokenizer.vocabulary[$0] }.joined(separator: " ")
                    : tokenizer.decode(expected.map(Int32.init))
                XCTAssertEqual(decoded[index], back, "\(tokenizer.kind) decoding: \(text.debugDescription)")
            }
        }
        XCTAssertTrue(words.encode(Self.texts[3]).contains(WordTokenizer.specialTokens.unk), "the word check covers [UNK]")
        XCTAssertLessThan(chars.encode(Self.texts[3]).count, Self.texts[3].unicodeScalars.count,
                          "the char check covers characters outside the vocabulary")
    }
}

/// The result of a finished process.
struct ProcessRun {
    var status: Int32
    var output: String
    var errorOutput: String
}

/// Runs `executable` with `arguments`, standard output and error to files (no pipe can fill up),
/// and waits at most `timeout` seconds.
func runProcess(_ executable: String, _ arguments: [String], timeout: TimeInterval) throws -> ProcessRun {
    let scratch = try makeTemporaryDirectory("process")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let outputPath = scratch + "/stdout", errorPath = scratch + "/stderr"
    for path in [outputPath, errorPath] {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw TrainerError("cannot create \(path)") }
    }
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    try output.close()
    try errors.close()
    return ProcessRun(status: process.terminationStatus,
                      output: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
                      errorOutput: (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
}
