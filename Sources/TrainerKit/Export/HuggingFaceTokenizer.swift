import Foundation

/// A tokenizer as the files of Hugging Face's `tokenizers` and `transformers`: `tokenizer.json`
/// (the `tokenizers` pipeline: pre-tokenizer, model, decoder, special tokens),
/// `tokenizer_config.json` (for `AutoTokenizer.from_pretrained`) and `vocab.json` (token → id),
/// plus `merges.txt` for BPE (GPT-2's two classic files).
///
/// How close each kind comes (checked against `tokenizers` by `launch/reference/hf_logits.py`):
/// - `bpe`: a `BPE` model behind the `ByteLevel` pre-tokenizer and decoder, which is GPT-2's
///   byte-level BPE, as ours is: same ids for the same text, same text back from the ids.
/// - `char`: a `BPE` model with the characters as vocabulary and no merges, no pre-tokenizer, and
///   the `Fuse` decoder: one token per Unicode scalar, characters outside the vocabulary dropped
///   (as ours drops them), the text back by concatenation.
/// - `word`: a `WordLevel` model behind the `Whitespace` pre-tokenizer, which our word tokenizer
///   follows: same ids. Decoding differs: `tokenizers` joins the pieces with spaces, ours also
///   attaches punctuation (`Hello , world !` against `Hello, world!`).
///
/// The special tokens ([PAD], [SOS], [EOS], [UNK]) are `added_tokens`, so that decoding skips them.
/// `tokenizers` then reads those strings in the input text as the special tokens, where ours reads
/// them as text; `tokenizer_config.json` sets `split_special_tokens`, which makes `transformers`'
/// tokenizer read them as text too. A bare `tokenizers.Tokenizer.from_file` does not read that file.
public enum HuggingFaceTokenizer {
    /// The files for `tokenizer`, by name, in writing order; `maximumLength` is the model's
    /// positions (`model_max_length`).
    public static func files(for tokenizer: Tokenizer, maximumLength: Int) -> [(name: String, contents: String)] {
        var files = [
            ("tokenizer.json", tokenizerJSON(tokenizer).pretty),
            ("tokenizer_config.json", configuration(tokenizer, maximumLength: maximumLength).pretty),
            ("vocab.json", vocabulary(tokenizer).pretty),
        ]
        if let bpe = tokenizer as? BPETokenizer {
            // GPT-2's merges.txt: a version line, then one "left right" per merge in rank order.
            files.append(("merges.txt", (["#version: 0.2"] + bpe.mergeLines).joined(separator: "\n") + "\n"))
        }
        return files
    }

    /// `vocab.json`: every token and its id, in id order.
    static func vocabulary(_ tokenizer: Tokenizer) -> JSONText {
        .object(tokenizer.vocabulary.enumerated().map { ($1, .int($0)) })
    }

    /// `tokenizer.json`, format version 1.0.
    public static func tokenizerJSON(_ tokenizer: Tokenizer) -> JSONText {
        let byteLevel = JSONText.object([
            ("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)),
            ("use_regex", .bool(true)),
        ])
        let preTokenizer: JSONText, decoder: JSONText, model: JSONText
        switch tokenizer {
        case let bpe as BPETokenizer:
            preTokenizer = byteLevel
            decoder = byteLevel
            model = bpeModel(vocabulary: vocabulary(bpe), merges: bpe.merges.map {
                .array([.string(bpe.vocabulary[Int($0.left)]), .string(bpe.vocabulary[Int($0.right)])])
            })
        case is WordTokenizer:
            preTokenizer = .object([("type", .string("Whitespace"))])
            decoder = .null
            model = .object([
                ("type", .string("WordLevel")), ("vocab", vocabulary(tokenizer)),
                ("unk_token", .string(SpecialTokens.names.unk)),
            ])
        default:  // char: every scalar a word of its own, no merges
            preTokenizer = .null
            decoder = .object([("type", .string("Fuse"))])
            model = bpeModel(vocabulary: vocabulary(tokenizer), merges: [])
        }
        return .object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(specialTokens(tokenizer).map { id, content in
                .object([
                    ("id", .int(id)), ("content", .string(content)), ("single_word", .bool(false)),
                    ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)),
                    ("special", .bool(true)),
                ])
            })),
            ("normalizer", .null),
            ("pre_tokenizer", preTokenizer),
            ("post_processor", .null),
            ("decoder", decoder),
            ("model", model),
        ])
    }

    /// A `BPE` model without dropout, affixes or byte fallback.
    private static func bpeModel(vocabulary: JSONText, merges: [JSONText]) -> JSONText {
        .object([
            ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null),
            ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)),
            ("byte_fallback", .bool(false)), ("ignore_merges", .bool(false)), ("vocab", vocabulary),
            ("merges", .array(merges)),
        ])
    }

    /// The special tokens' ids and strings, none for the char tokenizer.
    static func specialTokens(_ tokenizer: Tokenizer) -> [(id: Int, content: String)] {
        guard let specials = tokenizer.specials else { return [] }
        return [specials.pad, specials.sos, specials.eos, specials.unk].map { (Int($0), tokenizer.vocabulary[Int($0)]) }
    }

    /// `tokenizer_config.json`: `PreTrainedTokenizerFast` over `tokenizer.json`, the special
    /// tokens' roles, no clean-up of spaces in decoding (ours does none), the special tokens'
    /// strings read as text (`split_special_tokens`), as ours reads them, and no `token_type_ids`.
    static func configuration(_ tokenizer: Tokenizer, maximumLength: Int) -> JSONText {
        var members: [(String, JSONText)] = [
            ("tokenizer_class", .string("PreTrainedTokenizerFast")),
            ("model_max_length", .int(maximumLength)),
            ("clean_up_tokenization_spaces", .bool(false)),
            ("split_special_tokens", .bool(true)),
            // No token_type_ids: GPT-2 would add their embedding (the token embedding of id 0).
            ("model_input_names", .array([.string("input_ids"), .string("attention_mask")])),
        ]
        if let specials = tokenizer.specials {
            let name = { (id: Int32) in JSONText.string(tokenizer.vocabulary[Int(id)]) }
            members += [
                ("pad_token", name(specials.pad)), ("bos_token", name(specials.sos)), ("eos_token", name(specials.eos)),
                ("unk_token", name(specials.unk)),
            ]
        }
        return .object(members)
    }
}
