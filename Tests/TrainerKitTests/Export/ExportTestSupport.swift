import Foundation
import XCTest
import TrainerKit

/// Writes a checkpoint the way the design describes it (root attributes, `/model/<name>`,
/// `/tokenizer`), by hand: the parts an export reads, for a model of `model`'s sizes.
func writeCheckpoint(to path: String, model: ModelConfig, parameters: ParameterStore, step: Int = 7,
                     tokenizer writeTokenizer: (HDF5Group) throws -> Void) throws {
    var run = RunConfig()
    run.model = model
    run.data.blockSize = model.positions
    let file = try HDF5File(path: path, mode: .truncate)
    try file.setAttribute("format", "trainer-checkpoint")
    try file.setAttribute("format_version", Int64(1))
    try file.setAttribute("model_kind", model.kind.rawValue)
    try file.setAttribute("step", Int64(step))
    try file.setAttribute("tokens_seen", Int64(step * 64))
    try file.setAttribute("seed", Int64(1337))
    try file.setAttribute("config", try ConfigLoader.yaml(run))
    let group = try file.createGroup("model")
    for entry in parameters.entries {
        try group.write(entry.name, UnsafeBufferPointer(start: parameters.values.pointer + entry.offset, count: entry.count),
                        shape: entry.shape)
    }
    try writeTokenizer(file.createGroup("tokenizer"))
    try file.close()
}

/// Fills `parameters` with values of a trained model's spread rather than an initialisation's:
/// norm scales 1 ± 0.3, norm shifts and biases ± 0.2, matrices and embeddings ± `scale`. Every
/// tensor then matters to the output, so a misplaced one shows.
func randomize(_ parameters: ParameterStore, seed: UInt64, scale: Float = 0.3) {
    var random = TestRandom(seed: seed)
    for entry in parameters.entries {
        for i in entry.offset ..< entry.offset + entry.count {
            switch entry.role {
            case .normWeight: parameters.values[i] = 1 + random.uniform(0.3)
            case .normBias, .bias: parameters.values[i] = random.uniform(0.2)
            case .weight, .residualWeight, .embedding: parameters.values[i] = random.uniform(scale)
            }
        }
    }
}

/// The names of the entries (files and folders) in `folder`, sorted.
func folderContents(_ folder: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
}
