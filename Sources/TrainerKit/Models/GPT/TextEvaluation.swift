import Foundation

/// `trainer eval --text FILE...`: a GPT checkpoint's loss on any text, tokenized with the
/// checkpoint's own tokenizer (so text the model never saw, with fewer or other characters, can be
/// scored). Characters outside the vocabulary are skipped and counted. Every target is scored once:
/// the text is cut into consecutive windows of the model's context, in order, nothing sampled.
public struct TextEvaluation: Sendable {
    /// Characters read, characters scored (targets), windows, and the loss (mean nats per token).
    public var characters = 0
    public var scored = 0
    public var windows = 0
    public var loss = 0.0
    /// Skipped characters (not in the checkpoint's vocabulary), by count, most frequent first.
    public var unknown: [(character: String, count: Int)] = []

    public var perplexity: Double { Foundation.exp(loss) }
    /// Bits per character (one token per character for the char tokenizer).
    public var bitsPerCharacter: Double { loss / Foundation.log(2) }

    /// Scores `files` (UTF-8 text, read in order as one stream) with `model` and `tokenizer`, in
    /// batches of up to `model.limits.batch` windows of `window` tokens.
    public static func run(files: [String], model: GPTModel, tokenizer: Tokenizer, window: Int,
                           parallelism: Parallelism) throws -> TextEvaluation {
        guard let chars = tokenizer as? CharTokenizer else {
            throw TrainerError("eval --text: the checkpoint's tokenizer is '\(tokenizer.kind)'; --text scores character-level GPT checkpoints")
        }
        var result = TextEvaluation()
        var tokens: [Int32] = []
        var unknown: [String: Int] = [:]
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TrainerError("eval --text: \(path): no such file or not readable")
            }
            try UTF8Scanner.requireText(data, path: path, command: "eval --text")
            for scalar in String(decoding: data, as: UTF8.self).unicodeScalars {
                result.characters += 1
                if let id = chars.id(of: scalar.value) { tokens.append(id) } else { unknown[String(scalar), default: 0] += 1 }
            }
        }
        result.unknown = unknown.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
        guard tokens.count >= 2 else {
            throw TrainerError("eval --text: \(files.joined(separator: ", ")): fewer than 2 characters in the checkpoint's vocabulary")
        }
        // Windows start at 0, T, 2T, ...: inputs tokens[s ..< s+n], targets one further.
        let starts = Array(stride(from: 0, to: tokens.count - 1, by: window))
        var sum = 0.0
        var batchStart = 0
        while batchStart < starts.count {
            // Full windows go in batches; the last, shorter one alone.
            let length = min(window, tokens.count - 1 - starts[batchStart])
            var batch = 0
            while batchStart + batch < starts.count && batch < model.limits.batch
                  && min(window, tokens.count - 1 - starts[batchStart + batch]) == length { batch += 1 }
            var inputs: [Int32] = [], targets: [Int32] = []
            for s in starts[batchStart ..< batchStart + batch] {
                inputs += tokens[s ..< s + length]
                targets += tokens[(s + 1) ..< (s + 1 + length)]
            }
            let total = model.forward(tokens: inputs, targets: targets, batch: batch, time: length, parallelism: parallelism)!
            sum += total.sum
            result.scored += total.count
            batchStart += batch
        }
        result.windows = starts.count
        result.loss = sum / Double(result.scored)
        return result
    }

    /// The line `eval --text` prints.
    public func describe(files: [String], window: Int) -> String {
        var line = String(format: "%@: %d characters, %d scored in %d windows of up to %d; loss %.6f, perplexity %.4f, bits per character %.4f",
                          files.joined(separator: ", "), characters, scored, windows, window, loss, perplexity, bitsPerCharacter)
        if !unknown.isEmpty {
            let skipped = unknown.reduce(0) { $0 + $1.count }
            let listed = unknown.prefix(8).map { "\($0.count) × \($0.character.debugDescription)" }.joined(separator: ", ")
            line += "; skipped \(skipped) characters outside the checkpoint's vocabulary (\(listed)\(unknown.count > 8 ? ", ..." : ""))"
        }
        return line
    }
}
