import Foundation
import XCTest
import TrainerKit

/// GPT-2's names and layouts: every tensor where `transformers` looks for it, the projections as
/// `Conv1D` weights [in, out] computing what our Linear layers compute, and `config.json`.
final class HuggingFaceGPT2Tests: XCTestCase {
    /// C = 4 over 2 heads, 2 layers, feed-forward 6, vocabulary 5, 3 positions; element i of the
    /// flat parameter buffer holds i, so every exported value says where it came from.
    func makeGPT() -> (config: ModelConfig, parameters: ParameterStore) {
        let config = modelConfig(positions: 3, channels: 4, heads: 2, layers: 2, feedForward: 6, activation: .geluTanh)
        let parameters = GPTModel.layout(config, vocabulary: 5).makeStore()
        for i in 0 ..< parameters.count { parameters.values[i] = Float(i) }
        return (config, parameters)
    }

    func testEveryParameterGoesToItsGPT2NameOnce() throws {
        let (config, parameters) = makeGPT()
        let tensors = try HuggingFaceGPT2.tensors(parameters, config: config)
        let block = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                     "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
                     "mlp.c_proj.bias"]
        let expected = ["transformer.wte.weight", "transformer.wpe.weight"]
            + (0 ..< 2).flatMap { layer in block.map { "transformer.h.\(layer).\($0)" } }
            + ["transformer.ln_f.weight", "transformer.ln_f.bias"]
        XCTAssertEqual(tensors.map(\.name), expected)
        let shapes = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.shape) })
        XCTAssertEqual(shapes["transformer.wte.weight"], [5, 4])
        XCTAssertEqual(shapes["transformer.wpe.weight"], [3, 4])
        XCTAssertEqual(shapes["transformer.h.1.attn.c_attn.weight"], [4, 12])
        XCTAssertEqual(shapes["transformer.h.1.attn.c_attn.bias"], [12])
        XCTAssertEqual(shapes["transformer.h.1.attn.c_proj.weight"], [4, 4])
        XCTAssertEqual(shapes["transformer.h.1.mlp.c_fc.weight"], [4, 6])
        XCTAssertEqual(shapes["transformer.h.1.mlp.c_proj.weight"], [6, 4])
        XCTAssertEqual(shapes["transformer.ln_f.bias"], [4])
        // Nothing lost, nothing twice: the values are exactly 0 ..< count.
        XCTAssertEqual(tensors.flatMap(\.values).sorted(), (0 ..< parameters.count).map(Float.init))
        // Embeddings, norms and biases as they are.
        func ours(_ name: String) -> [Float] {
            let view = parameters.view(name)
            return Array(UnsafeBufferPointer(start: view.value, count: view.count))
        }
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.values) })
        XCTAssertEqual(byName["transformer.wte.weight"], ours("token_embedding/weight"))
        XCTAssertEqual(byName["transformer.wpe.weight"], ours("position_embedding/weight"))
        XCTAssertEqual(byName["transformer.h.1.ln_2.weight"], ours("blocks/1/norm2/weight"))
        XCTAssertEqual(byName["transformer.h.1.attn.c_proj.bias"], ours("blocks/1/attention/output/bias"))
        XCTAssertEqual(byName["transformer.h.0.mlp.c_fc.bias"], ours("blocks/0/feed_forward/linear1/bias"))
        XCTAssertEqual(byName["transformer.ln_f.weight"], ours("final_norm/weight"))
    }

    func testCAttnJoinsQueryKeyValueInThatOrderTransposed() throws {
        let (config, parameters) = makeGPT()
        let tensors = try HuggingFaceGPT2.tensors(parameters, config: config)
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.values) })
        let C = 4
        for layer in 0 ..< 2 {
            let attention = "blocks/\(layer)/attention/"
            let weight = try XCTUnwrap(byName["transformer.h.\(layer).attn.c_attn.weight"])  // (C, 3C)
            let bias = try XCTUnwrap(byName["transformer.h.\(layer).attn.c_attn.bias"])  // (3C)
            for (part, name) in ["query", "key", "value"].enumerated() {
                let ourWeight = parameters.view(attention + name + "/weight").value  // (C out, C in)
                let ourBias = parameters.view(attention + name + "/bias").value
                for out in 0 ..< C {
                    XCTAssertEqual(bias[part * C + out], ourBias[out], "\(name) bias \(out)")
                    for input in 0 ..< C {
                        XCTAssertEqual(weight[input * 3 * C + part * C + out], ourWeight[out * C + input],
                                       "layer \(layer) \(name)[\(out), \(input)]")
                    }
                }
            }
            let projection = try XCTUnwrap(byName["transformer.h.\(layer).attn.c_proj.weight"])
            let ourProjection = parameters.view(attention + "output/weight").value
            for out in 0 ..< C {
                for input in 0 ..< C { XCTAssertEqual(projection[input * C + out], ourProjection[out * C + input]) }
            }
        }
    }

    /// GPT-2's `Conv1D` computes `x·W + b`; with the exported weights it must give what our Linear
    /// layers give, `x·Wᵀ + b`, for the fused query/key/value and for both feed-forward layers.
    func testConv1DWithTheExportedWeightsComputesOurProjections() throws {
        let (config, parameters) = makeGPT()
        var random = TestRandom(seed: 7)
        for i in 0 ..< parameters.count { parameters.values[i] = random.uniform() }
        let tensors = try HuggingFaceGPT2.tensors(parameters, config: config)
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        let rows = 3
        for (ours, theirs, inputs, outputs) in [("blocks/1/attention/query", "attn.c_attn", 4, 12),
                                                ("blocks/1/feed_forward/linear1", "mlp.c_fc", 4, 6),
                                                ("blocks/1/feed_forward/linear2", "mlp.c_proj", 6, 4)] {
            let x = random.buffer(rows * inputs)
            // Ours: the query Linear's weight and bias begin the fused q|k|v block.
            let expected = FloatBuffer(count: rows * outputs)
            Linear.forwardNaive(output: expected.pointer, input: x.readPointer, weight: parameters.view(ours + "/weight").value,
                                bias: parameters.view(ours + "/bias").value, rows: rows, inputChannels: inputs,
                                outputChannels: outputs)
            let weight = try XCTUnwrap(byName["transformer.h.1.\(theirs).weight"]), bias = try XCTUnwrap(byName["transformer.h.1.\(theirs).bias"])
            XCTAssertEqual(weight.shape, [inputs, outputs])
            let conv1D = FloatBuffer(count: rows * outputs)
            for r in 0 ..< rows {
                for o in 0 ..< outputs {
                    var sum = bias.values[o]
                    for i in 0 ..< inputs { sum += x[r * inputs + i] * weight.values[i * outputs + o] }
                    conv1D[r * outputs + o] = sum
                }
            }
            assertClose(conv1D, expected, tolerance: 1e-5, theirs)
        }
    }

    func testOnlyGeluTanhGPTsWithTiedEmbeddingsAreGPT2s() throws {
        var config = modelConfig(positions: 3, channels: 4, heads: 2, layers: 1, feedForward: 6, activation: .geluTanh)
        XCTAssertNoThrow(try HuggingFaceGPT2.requireCompatible(config, source: "c.h5"))
        let hint = "export it without --names (our own tensor names)"
        for (activation, found) in [(Activation.gelu, "gelu"), (.relu, "relu")] {
            config.activation = activation
            XCTAssertThrowsError(try HuggingFaceGPT2.requireCompatible(config, source: "c.h5")) { error in
                XCTAssertEqual((error as? TrainerError)?.message,
                               "c.h5: export --names huggingface-gpt2 needs model.activation gelu_tanh (this checkpoint: \(found)); \(hint), or train with --set model.activation=gelu_tanh")
            }
        }
        config.activation = .geluTanh
        config.tieEmbeddings = false
        XCTAssertThrowsError(try HuggingFaceGPT2.requireCompatible(config, source: "c.h5")) { error in
            XCTAssertEqual((error as? TrainerError)?.message,
                           "c.h5: export --names huggingface-gpt2 needs model.tie_embeddings true (this checkpoint: false); \(hint), or train with --set model.tie_embeddings=true")
        }
        config.tieEmbeddings = true
        config.kind = .seq2seq
        XCTAssertThrowsError(try HuggingFaceGPT2.requireCompatible(config, source: "c.h5")) { error in
            XCTAssertEqual((error as? TrainerError)?.message,
                           "c.h5: export --names huggingface-gpt2 needs model.kind gpt (this checkpoint: seq2seq); \(hint)")
        }
    }

    func testAStoreThatIsNotSuchAGPTIsRefused() throws {
        let (config, _) = makeGPT()
        var untied = config
        untied.tieEmbeddings = false  // one tensor (lm_head) more than GPT-2 has
        let parameters = GPTModel.layout(untied, vocabulary: 5).makeStore()
        XCTAssertThrowsError(try HuggingFaceGPT2.tensors(parameters, config: config)) { error in
            XCTAssertEqual((error as? TrainerError)?.message,
                           "parameter lm_head/weight has no place in the export (not a GPT of the expected layout)")
        }
        var deeper = config
        deeper.layers = 3  // a block the store does not have
        XCTAssertThrowsError(try HuggingFaceGPT2.tensors(GPTModel.layout(config, vocabulary: 5).makeStore(), config: deeper)) { error in
            XCTAssertEqual((error as? TrainerError)?.message,
                           "the checkpoint has no parameter blocks/2/norm1/weight (not a GPT of the expected layout)")
        }
    }

    func testConfigJSONDescribesTheModelInGPT2Terms() throws {
        var config = modelConfig(positions: 64, channels: 48, heads: 6, layers: 3, feedForward: 100, activation: .geluTanh,
                                 dropout: 0.1)
        config.normEpsilon = 1e-6
        for (specials, ids) in [(nil, [NSNull(), NSNull(), NSNull()] as [Any]),
                                (SpecialTokens(pad: 0, sos: 1, eos: 2, unk: 3), [1, 2, 0])] {
            let text = HuggingFaceGPT2.configuration(config, vocabulary: 70, specials: specials).pretty
            let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            XCTAssertEqual(json["model_type"] as? String, "gpt2")
            XCTAssertEqual(json["architectures"] as? [String], ["GPT2LMHeadModel"])
            for (key, value) in [("vocab_size", 70), ("n_positions", 64), ("n_ctx", 64), ("n_embd", 48), ("n_layer", 3),
                                 ("n_head", 6), ("n_inner", 100)] {
                XCTAssertEqual(json[key] as? Int, value, key)
            }
            XCTAssertEqual(json["activation_function"] as? String, "gelu_new")
            XCTAssertEqual(json["layer_norm_epsilon"] as? Double, 1e-6)
            for key in ["resid_pdrop", "embd_pdrop", "attn_pdrop"] { XCTAssertEqual(json[key] as? Double, 0.1, key) }
            XCTAssertEqual(json["tie_word_embeddings"] as? Bool, true)
            XCTAssertEqual(json["scale_attn_weights"] as? Bool, true)
            XCTAssertEqual(json["scale_attn_by_inverse_layer_idx"] as? Bool, false)
            for (key, id) in zip(["bos_token_id", "eos_token_id", "pad_token_id"], ids) {
                XCTAssertTrue(json.keys.contains(key), "\(key) is written (null rather than GPT-2's default 50256)")
                if let id = id as? Int { XCTAssertEqual(json[key] as? Int, id, key) } else { XCTAssertTrue(json[key] is NSNull, key) }
            }
        }
    }
}
