import ArgumentParser
import Foundation
import TrainerKit

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a corpus into an HDF5 dataset: text for a language model (char), or a parallel corpus for translation (word, bpe).",
        discussion: """
            Language model: --input corpus.txt [--input more.txt] --tokenizer char.
            Translation: --input pairs.tsv (source<TAB>target per line) or --input train.en --input train.it (aligned \
            files), --tokenizer word|bpe. --generate toy-en-it --output toy.tsv writes the built-in toy corpus.
            """)

    @Option(name: .customLong("input"), help: "Input file(s) (repeatable).")
    var inputs: [String] = []

    @Option(help: "Output dataset (.h5), or the TSV file with --generate.")
    var output: String

    @Option(help: "char (language model) | word | bpe (translation)")
    var tokenizer = "char"

    @Option(help: "bpe: target vocabulary size per side (or shared); word: a cap on the vocabulary (0: none).")
    var vocabSize = 0

    @Option(help: "word: least count of a word to be kept; bpe: of a merge.")
    var minFrequency = 2

    @Flag(help: "One vocabulary for source and target.")
    var sharedVocab = false

    @Option(help: "Translation: longest sequence kept, [SOS]/[EOS] included; longer pairs are dropped and counted.")
    var maxLength = 128

    @Option(help: "Fraction kept for validation (the end of a text corpus; a seeded random share of a parallel one).")
    var valFraction = 0.1

    @Option(help: "Text corpora: use this GPT checkpoint's tokenizer (characters outside it are skipped and counted), so that the dataset can be evaluated with it.")
    var tokenizerFrom: String?

    @Option(help: "Translation: fraction held out as a test split (drawn after the validation pairs; 0: none). Score it with `eval --split test`.")
    var testFraction = 0.0

    @Option(help: "Write a generated corpus instead: toy-en-it.")
    var generate: String?

    @Option(help: "Pairs to generate.")
    var pairs = 22_000

    func run() throws {
        try guarded {
            if let generate {
                guard generate == "toy-en-it" else { throw TrainerError("prepare: --generate \(generate) is unknown (toy-en-it)") }
                try Commands.generateToyCorpus(output: output, pairs: pairs)
                return
            }
            if tokenizer == "char" {
                guard testFraction == 0 else {
                    throw TrainerError("prepare: --test-fraction is for parallel corpora (--tokenizer word or bpe); a text corpus has train and val splits")
                }
                try Commands.prepare(inputs: inputs, output: output, tokenizer: tokenizer, validationFraction: valFraction,
                                     tokenizerFrom: tokenizerFrom)
            } else {
                if tokenizerFrom != nil { throw TrainerError("prepare: --tokenizer-from takes text corpora (--tokenizer char)") }
                var options = ParallelPrepareOptions()
                options.tokenizer = tokenizer
                options.vocabularySize = vocabSize
                options.minimumFrequency = minFrequency
                options.sharedVocabulary = sharedVocab
                options.maximumLength = maxLength
                options.validationFraction = valFraction
                options.testFraction = testFraction
                try Commands.prepareParallel(inputs: inputs, output: output, options: options)
            }
        }
    }
}
