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
        result.unknown = UnknownCharacters.ranked(unknown)
        guard tokens.count >= 2 else {
            throw TrainerError("eval --text: \(files.joined(separator: ", ")): fewer than 2 characters in the checkpoint's vocabulary")
        }
        let scores = try score(count: tokens.count, read: { Array(tokens[$0]) }, model: model, window: window,
                               parallelism: parallelism, progress: ProgressLine(unit: "windows"))
        result.windows = scores.windows
        result.scored = scores.scored
        result.loss = scores.sum / Double(scores.scored)
        return result
    }

    /// Scores every target of a stream of `count` tokens once, nothing sampled: windows of
    /// `window` tokens start at 0, T, 2T, ... (inputs tokens[s ..< s+T], targets one further; the
    /// last window is shorter), full windows in batches of up to `model.limits.batch`. `read`
    /// returns the tokens of a range. Returns the summed loss, the targets scored and the windows.
    public static func score(count: Int, read: (Range<Int>) throws -> [Int32], model: GPTModel, window: Int,
                             parallelism: Parallelism, progress: ProgressLine? = nil)
        throws -> (sum: Double, scored: Int, windows: Int) {
        let windows = (count - 1 + window - 1) / window
        progress?.begin("eval", total: Double(windows))
        defer { progress?.end() }
        var sum = 0.0, scored = 0, first = 0  // first: the next window's index
        while first < windows {
            // Full windows go in batches; the last, shorter one alone.
            let start = first * window, length = min(window, count - 1 - start)
            let batch = length < window ? 1 : min(model.limits.batch, (count - 1 - start) / window)
            let tokens = try read(start ..< start + batch * length + 1)
            var inputs: [Int32] = [], targets: [Int32] = []
            for w in 0 ..< batch {
                inputs += tokens[(w * length) ..< (w * length + length)]
                targets += tokens[(w * length + 1) ..< (w * length + length + 1)]
            }
            let total = model.forward(tokens: inputs, targets: targets, batch: batch, time: length, parallelism: parallelism)!
            sum += total.sum
            scored += total.count
            first += batch
            progress?.advance(Double(batch))
        }
        return (sum, scored, windows)
    }

    /// The line `eval --text` prints.
    public func describe(files: [String], window: Int) -> String {
        var line = String(format: "%@: %d characters, %d scored in %d windows of up to %d; loss %.6f, perplexity %.4f, bits per character %.4f",
                          files.joined(separator: ", "), characters, scored, windows, window, loss, perplexity, bitsPerCharacter)
        line += UnknownCharacters.note(unknown)
        return line
    }
}
