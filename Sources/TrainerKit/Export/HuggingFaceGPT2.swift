import Foundation

/// A GPT checkpoint under the names and layouts of Hugging Face's GPT-2 (`transformers`'
/// `GPT2LMHeadModel`), with the `config.json` that describes it, so that
/// `GPT2LMHeadModel.from_pretrained(folder)` computes the same logits.
///
/// The two models are the same network: learned position embeddings, pre-norm blocks, attention
/// scores scaled by 1/√(head size) with a causal mask, biases in every projection, the LM head tied
/// to the token embedding. What differs is the layout:
///
///     ours                                            GPT-2
///     token_embedding/weight      [V, C]              transformer.wte.weight       [V, C]
///     position_embedding/weight   [P, C]              transformer.wpe.weight       [P, C]
///     blocks/i/norm1/{weight,bias}                    transformer.h.i.ln_1.{weight,bias}
///     blocks/i/attention/{query,key,value}/weight     transformer.h.i.attn.c_attn.weight  [C, 3C]
///                                 3 × [C, C]            = [query; key; value]ᵀ
///     blocks/i/attention/{query,key,value}/bias       transformer.h.i.attn.c_attn.bias    [3C]
///     blocks/i/attention/output/weight    [C, C]      transformer.h.i.attn.c_proj.weight  [C, C] (ᵀ)
///     blocks/i/norm2/{weight,bias}                    transformer.h.i.ln_2.{weight,bias}
///     blocks/i/feed_forward/linear1/weight [FF, C]    transformer.h.i.mlp.c_fc.weight     [C, FF] (ᵀ)
///     blocks/i/feed_forward/linear2/weight [C, FF]    transformer.h.i.mlp.c_proj.weight   [FF, C] (ᵀ)
///     final_norm/{weight,bias}                        transformer.ln_f.{weight,bias}
///
/// GPT-2's projections are `Conv1D` modules, whose weight is [in, out] (`y = x·W + b`), where ours
/// are Linear layers, [out, in] (`y = x·Wᵀ + b`): every projection weight is transposed. Biases
/// and norms are copied as they are. GPT-2 splits `c_attn`'s output into query, key and value in
/// that order, and each into heads of consecutive channels, as ours does.
public enum HuggingFaceGPT2 {
    /// Throws unless a model of `config` is a GPT-2: a GPT with the tanh GELU (GPT-2's `gelu_new`)
    /// and the LM head tied to the token embedding. Errors start with `source` (the checkpoint).
    public static func requireCompatible(_ config: ModelConfig, source: String) throws {
        func refuse(_ key: String, _ expected: String, _ found: String, _ setting: String?) -> TrainerError {
            let retrain = setting.map { ", or train with --set \($0)" } ?? ""
            return TrainerError("\(source): export --names huggingface-gpt2 needs \(key) \(expected) (this checkpoint: \(found)); export it without --names (our own tensor names)\(retrain)")
        }
        guard config.kind == .gpt else { throw refuse("model.kind", "gpt", config.kind.rawValue, nil) }
        guard config.activation == .geluTanh else {
            throw refuse("model.activation", "gelu_tanh", config.activation.rawValue, "model.activation=gelu_tanh")
        }
        guard config.tieEmbeddings else { throw refuse("model.tie_embeddings", "true", "false", "model.tie_embeddings=true") }
    }

    /// GPT-2's tensors from the parameters of a GPT of `config` (resolved), in GPT-2's order.
    /// - Throws: `TrainerError` if the store is not such a GPT's (a tensor missing or left over).
    public static func tensors(_ parameters: ParameterStore, config: ModelConfig) throws -> [SafeTensors.Tensor] {
        var reader = ParameterReader(parameters)
        var tensors = [
            try reader.tensor("transformer.wte.weight", from: "token_embedding/weight"),
            try reader.tensor("transformer.wpe.weight", from: "position_embedding/weight"),
        ]
        for layer in 0 ..< config.layers {
            let ours = "blocks/\(layer)/", theirs = "transformer.h.\(layer)."
            let attention = ours + "attention/", feedForward = ours + "feed_forward/"
            tensors += [
                try reader.tensor(theirs + "ln_1.weight", from: ours + "norm1/weight"),
                try reader.tensor(theirs + "ln_1.bias", from: ours + "norm1/bias"),
                try reader.transposedConcatenation(theirs + "attn.c_attn.weight",
                                                   from: ["query", "key", "value"].map { attention + $0 + "/weight" }),
                try reader.concatenation(theirs + "attn.c_attn.bias",
                                         from: ["query", "key", "value"].map { attention + $0 + "/bias" }),
                try reader.transposedConcatenation(theirs + "attn.c_proj.weight", from: [attention + "output/weight"]),
                try reader.tensor(theirs + "attn.c_proj.bias", from: attention + "output/bias"),
                try reader.tensor(theirs + "ln_2.weight", from: ours + "norm2/weight"),
                try reader.tensor(theirs + "ln_2.bias", from: ours + "norm2/bias"),
                try reader.transposedConcatenation(theirs + "mlp.c_fc.weight", from: [feedForward + "linear1/weight"]),
                try reader.tensor(theirs + "mlp.c_fc.bias", from: feedForward + "linear1/bias"),
                try reader.transposedConcatenation(theirs + "mlp.c_proj.weight", from: [feedForward + "linear2/weight"]),
                try reader.tensor(theirs + "mlp.c_proj.bias", from: feedForward + "linear2/bias"),
            ]
        }
        tensors += [
            try reader.tensor("transformer.ln_f.weight", from: "final_norm/weight"),
            try reader.tensor("transformer.ln_f.bias", from: "final_norm/bias"),
        ]
        try reader.requireAllRead()
        return tensors
    }

    /// `config.json` for `GPT2LMHeadModel`: the sizes of `config` (resolved), GPT-2's activation
    /// and layer-norm epsilon, our one dropout probability for GPT-2's three, the tied head, and
    /// the special tokens (none for a character tokenizer).
    public static func configuration(_ config: ModelConfig, vocabulary: Int, specials: SpecialTokens?) -> JSONText {
        let dropout = JSONText.double(config.dropout)
        let id: (Int32?) -> JSONText = { $0.map { .int(Int($0)) } ?? .null }
        return .object([
            ("architectures", .array([.string("GPT2LMHeadModel")])),
            ("model_type", .string("gpt2")),
            ("vocab_size", .int(vocabulary)),
            ("n_positions", .int(config.positions)),
            ("n_ctx", .int(config.positions)),
            ("n_embd", .int(config.channels)),
            ("n_layer", .int(config.layers)),
            ("n_head", .int(config.heads)),
            ("n_inner", .int(config.feedForward)),
            ("activation_function", .string("gelu_new")),
            ("layer_norm_epsilon", .double(config.normEpsilon)),
            ("resid_pdrop", dropout),
            ("embd_pdrop", dropout),
            ("attn_pdrop", dropout),
            ("initializer_range", .double(0.02)),
            ("scale_attn_weights", .bool(true)),
            ("scale_attn_by_inverse_layer_idx", .bool(false)),
            ("reorder_and_upcast_attn", .bool(false)),
            ("tie_word_embeddings", .bool(true)),
            ("bos_token_id", id(specials?.sos)),
            ("eos_token_id", id(specials?.eos)),
            ("pad_token_id", id(specials?.pad)),
            ("torch_dtype", .string("float32")),
            ("use_cache", .bool(true)),
        ])
    }
}

/// Reads tensors out of a `ParameterStore` by name, keeping track of which were read, so that a
/// mapping that forgets one is an error rather than a silently incomplete export.
struct ParameterReader {
    let parameters: ParameterStore
    private(set) var read = Set<String>()

    init(_ parameters: ParameterStore) { self.parameters = parameters }

    /// The entry `name` and its values.
    mutating func values(_ name: String) throws -> (shape: [Int], values: [Float]) {
        guard let entry = parameters.entry(name) else {
            throw TrainerError("the checkpoint has no parameter \(name) (not a GPT of the expected layout)")
        }
        read.insert(name)
        return (entry.shape, Array(UnsafeBufferPointer(start: parameters.values.pointer + entry.offset, count: entry.count)))
    }

    /// Tensor `name` holding parameter `source` as it is.
    mutating func tensor(_ name: String, from source: String) throws -> SafeTensors.Tensor {
        let (shape, values) = try values(source)
        return SafeTensors.Tensor(name: name, shape: shape, values: values)
    }

    /// Tensor `name` holding the vectors `sources` one after the other.
    mutating func concatenation(_ name: String, from sources: [String]) throws -> SafeTensors.Tensor {
        var values: [Float] = []
        for source in sources {
            let part = try self.values(source)
            guard part.shape.count == 1 else { throw TrainerError("parameter \(source) has shape \(part.shape), expected a vector") }
            values += part.values
        }
        return SafeTensors.Tensor(name: name, shape: [values.count], values: values)
    }

    /// Tensor `name` [in, Σ out] holding the Linear weights `sources` ([out, in] each, the same
    /// `in`) stacked and transposed: a `Conv1D` weight.
    mutating func transposedConcatenation(_ name: String, from sources: [String]) throws -> SafeTensors.Tensor {
        var stacked: [Float] = []  // (Σ out, in)
        var inputs: Int?
        for source in sources {
            let part = try values(source)
            guard part.shape.count == 2, inputs == nil || inputs == part.shape[1] else {
                throw TrainerError("parameter \(source) has shape \(part.shape), expected a matrix [out, \(inputs.map(String.init) ?? "in")]")
            }
            inputs = part.shape[1]
            stacked += part.values
        }
        let columns = inputs ?? 0, rows = columns == 0 ? 0 : stacked.count / columns
        return SafeTensors.Tensor(name: name, shape: [columns, rows], values: transposed(stacked, rows: rows, columns: columns))
    }

    /// Throws if a parameter of the store was not read.
    func requireAllRead() throws {
        if let missed = parameters.entries.first(where: { !read.contains($0.name) }) {
            throw TrainerError("parameter \(missed.name) has no place in the export (not a GPT of the expected layout)")
        }
    }
}

/// The transpose of the row-major matrix `matrix` (rows, columns): (columns, rows).
func transposed(_ matrix: [Float], rows: Int, columns: Int) -> [Float] {
    precondition(matrix.count == rows * columns)
    var result = [Float](repeating: 0, count: matrix.count)
    for r in 0 ..< rows {
        for c in 0 ..< columns { result[c * rows + r] = matrix[r * columns + c] }
    }
    return result
}
