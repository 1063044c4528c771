import Foundation
import XCTest
import TrainerKit

/// What a translation run takes from its data and its folder: `model.positions: 0` resolved from
/// the dataset, and the dataset found again from a checkpoint wherever `eval` runs.
final class TranslationSetupTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory("translation-setup") }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    /// A parallel dataset whose longest pair is longer than 32 tokens (the toy config's old
    /// positions), as real data has.
    func makeDataset() throws -> String {
        var lines = ToyTranslation.corpus(count: 300)
        lines.append(Array(repeating: "The dog runs.", count: 10).joined(separator: " ") + "\t"
                     + Array(repeating: "Il cane corre.", count: 10).joined(separator: " "))
        let tsv = try writeText(lines.joined(separator: "\n") + "\n", "pairs.tsv", in: directory)
        var options = ParallelPrepareOptions()
        options.minimumFrequency = 1
        options.validationFraction = 0
        let path = directory + "/pairs.h5"
        _ = try ParallelPrepare.prepare(inputs: [tsv], output: path, options: options)
        return path
    }

    func config(_ path: String, positions: Int, kind: String = "seq2seq") throws -> RunConfig {
        try ConfigLoader.load(path: nil, overrides: [
            "model.kind=\(kind)", "model.layers=1", "model.channels=16", "model.heads=2", "model.positions=\(positions)",
            "data.dataset=\(path)", "data.batch_size=4", "data.micro_batch_size=4", "data.block_size=16",
        ])
    }

    func testPositionsZeroFollowTheData() throws {
        let path = try makeDataset()
        let dataset = try ParallelDataset(path: path)
        // [SOS] + 40 words and full stops + [EOS] on the encoder's side.
        let longest = dataset.sourceTokenizer.encode(Array(repeating: "The dog runs.", count: 10).joined(separator: " ")).count + 2
        XCTAssertEqual(dataset.longestSequence, longest)
        XCTAssertGreaterThan(longest, 32)

        // The fixed size of the old toy config is refused, with the way out named.
        XCTAssertThrowsError(try TaskFactory.make(config: try config(path, positions: 32))) {
            XCTAssertTrue("\($0)".contains("model.positions (32) is shorter than the longest sequence"), "\($0)")
            XCTAssertTrue("\($0)".contains("set it to 0 to follow the data"), "\($0)")
        }
        // 0 must be resolved before a model is built ...
        XCTAssertThrowsError(try TaskFactory.make(config: try config(path, positions: 0))) {
            XCTAssertTrue("\($0)".contains("model.positions 0 must be resolved"), "\($0)")
        }
        // ... and resolves to the longest sequence, which the task then accepts.
        let resolved = try TaskFactory.resolve(try config(path, positions: 0))
        XCTAssertEqual(resolved.model.positions, longest)
        let task = try XCTUnwrap(try TaskFactory.make(config: resolved) as? Seq2SeqTask)
        XCTAssertEqual(task.model.config.positions, longest)
        // An explicit size, and a GPT's 0 (data.block_size), are left alone.
        XCTAssertEqual(try TaskFactory.resolve(try config(path, positions: 50)).model.positions, 50)
        XCTAssertEqual(try TaskFactory.resolve(try config(path, positions: 0, kind: "gpt")).model.positions, 0)
        // The resolved config is what a checkpoint stores: it reads back with the same size.
        let text = try ConfigLoader.yaml(resolved)
        XCTAssertEqual(try ConfigLoader.load(text: text, source: "stored").model.positions, longest)
    }

    /// Where `eval` looks for a checkpoint's dataset, in order: the recorded absolute path, then
    /// the path as typed relative to the checkpoint's folder, to the folder training ran in (the
    /// checkpoint's folder less run_dir), and to the current folder.
    func testTheDatasetIsLookedForWhereverTheCheckpointWent() throws {
        let checkpointFolder = directory + "/project/runs/translation"
        try FileManager.default.createDirectory(atPath: checkpointFolder, withIntermediateDirectories: true)
        func write(_ name: String, state: [String: String]) throws -> Checkpoint.Reader {
            let checkpoint = checkpointFolder + "/" + name
            let file = try HDF5File(path: checkpoint, mode: .truncate)
            try file.setAttribute("format", Checkpoint.format)
            try file.setAttribute("format_version", Int64(1))
            try file.setAttribute("model_kind", "seq2seq")
            for name in ["step", "tokens_seen", "seed"] { try file.setAttribute(name, Int64(0)) }
            try file.setAttribute("config", "")
            let group = try file.createGroup("state")
            for (key, value) in state { try group.setAttribute(key, value) }
            try file.close()
            return try Checkpoint.Reader(path: checkpoint)
        }
        let here = FileManager.default.currentDirectoryPath
        let recorded = try write("ckpt.h5", state: ["dataset": "data/pairs.h5", "dataset_absolute": "/elsewhere/data/pairs.h5"])
        XCTAssertEqual(recorded.datasetCandidates(typed: "data/pairs.h5", runDirectory: "runs/translation"), [
            "/elsewhere/data/pairs.h5", checkpointFolder + "/data/pairs.h5", directory + "/project/data/pairs.h5",
            here + "/data/pairs.h5",
        ])
        // An older checkpoint (no absolute path); a run_dir that the folder does not end with.
        let old = try write("ckpt-old.h5", state: ["dataset": "data/pairs.h5"])
        XCTAssertEqual(old.datasetCandidates(typed: "data/pairs.h5", runDirectory: "runs/other"),
                       [checkpointFolder + "/data/pairs.h5", here + "/data/pairs.h5"])
        XCTAssertEqual(old.datasetCandidates(typed: "/data/pairs.h5", runDirectory: "runs/translation"), ["/data/pairs.h5"])
    }
}
