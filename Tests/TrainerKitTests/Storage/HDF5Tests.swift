import Foundation
import XCTest
import TrainerKit

final class HDF5Tests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hdf5-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func testWriteReadWholeAndHyperslab() throws {
        let file = try HDF5File(path: path("a.h5"), mode: .exclusive)
        let values = (0 ..< 24).map { Float($0) * 0.5 }
        try file.write("model/blocks/0/weight", values, shape: [4, 6])
        try file.root(setAttributes: file)
        let dataset = try file.dataset("model/blocks/0/weight")
        XCTAssertEqual(try dataset.shape, [4, 6])
        XCTAssertEqual(dataset.elementDescription, "float32")
        XCTAssertEqual(try dataset.read(as: Float.self), values)
        // Rows 1..<3, columns 2..<5.
        let slab = try dataset.read(offset: [1, 2], count: [2, 3], as: Float.self)
        XCTAssertEqual(slab, [8, 9, 10, 14, 15, 16].map { Float($0) * 0.5 })
        // Type conversion on read.
        XCTAssertEqual(try dataset.read(as: Double.self)[3], 1.5)
        XCTAssertThrowsError(try dataset.read(offset: [3, 0], count: [2, 6], as: Float.self)) { error in
            XCTAssertTrue("\(error)".contains("outside its shape"), "\(error)")
        }
    }

    func testChunkedDeflatedExtendableTokensStringsAndAttributes() throws {
        do {
            let file = try HDF5File(path: path("b.h5"), mode: .truncate)
            let tokens = try file.createDataset("train/tokens", of: UInt16.self, shape: [0], maxShape: [nil],
                                                chunk: [1024], deflate: 4)
            let first = (0 ..< 3000).map { UInt16($0 % 77) }
            let second = (0 ..< 500).map { UInt16(($0 * 7) % 77) }
            try first.withUnsafeBufferPointer { try tokens.append($0) }
            try second.withUnsafeBufferPointer { try tokens.append($0) }
            try file.writeStrings("tokenizer/vocab", ["a", "\n", "é", "[PAD]", ""])
            try file.setAttribute("format", "trainer-dataset")
            try file.setAttribute("format_version", Int64(1))
            try file.setAttribute("ratio", 0.25)
            try file.setAttribute("sizes", [Int64(3), 4, 5])
            try file.setAttribute("sources", ["x.txt", "y.txt"])
            try file.flush()
        }
        let file = try HDF5File(path: path("b.h5"), mode: .readOnly)
        let tokens = try file.dataset("train/tokens")
        XCTAssertEqual(try tokens.shape, [3500])
        XCTAssertEqual(tokens.elementDescription, "uint16")
        let all = try tokens.read(as: UInt16.self)
        XCTAssertEqual(all[2999], UInt16(2999 % 77))
        XCTAssertEqual(all[3001], 7)
        XCTAssertEqual(try tokens.read(offset: [2998], count: [4], as: Int32.self), [2998 % 77, 2999 % 77, 0, 7].map { Int32($0) })
        XCTAssertEqual(try file.dataset("tokenizer/vocab").readStrings(), ["a", "\n", "é", "[PAD]", ""])
        XCTAssertEqual(try file.stringAttribute("format"), "trainer-dataset")
        XCTAssertEqual(try file.intAttribute("format_version"), 1)
        XCTAssertEqual(try file.doubleAttribute("ratio"), 0.25)
        XCTAssertEqual(try file.numericAttribute("sizes", as: Int64.self), [3, 4, 5])
        XCTAssertEqual(try file.stringArrayAttribute("sources"), ["x.txt", "y.txt"])
        XCTAssertEqual(try file.attributeNames().sorted(), ["format", "format_version", "ratio", "sizes", "sources"])
        XCTAssertEqual(try file.children().map(\.name), ["tokenizer", "train"])
        XCTAssertEqual(try file.datasetPaths(), ["tokenizer/vocab", "train/tokens"])
        XCTAssertTrue(file.exists("train/tokens"))
        XCTAssertFalse(file.exists("train/missing/deeper"))
        XCTAssertThrowsError(try file.stringAttribute("missing")) { error in
            XCTAssertTrue("\(error)".contains("missing attribute 'missing'"), "\(error)")
        }
    }

    func testH5DumpListsTheFile() throws {
        let file = try HDF5File(path: path("c.h5"), mode: .exclusive)
        try file.write("model/wte/weight", [Float](repeating: 1, count: 12), shape: [3, 4])
        try file.setAttribute("format", "trainer-checkpoint")
        try file.close()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["h5dump", "-H", path("c.h5")]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertTrue(output.contains("DATASET \"weight\""), output)
        XCTAssertTrue(output.contains("H5T_IEEE_F32LE"), output)
        XCTAssertTrue(output.contains("( 3, 4 )"), output)
        XCTAssertTrue(output.contains("ATTRIBUTE \"format\""), output)
    }

    func testErrorsNameTheFileAndNeverCrash() throws {
        XCTAssertThrowsError(try HDF5File(path: path("missing.h5"), mode: .readOnly)) { error in
            XCTAssertEqual("\(error)", "\(path("missing.h5")): no such file")
        }
        try "not hdf5".write(toFile: path("text.h5"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HDF5File(path: path("text.h5"), mode: .readOnly)) { error in
            XCTAssertTrue("\(error)".contains("not an HDF5 file"), "\(error)")
        }
        let file = try HDF5File(path: path("d.h5"), mode: .exclusive)
        XCTAssertThrowsError(try HDF5File(path: path("d.h5"), mode: .exclusive)) { error in
            XCTAssertTrue("\(error)".hasPrefix("creating \(path("d.h5")): "), "\(error)")
        }
        XCTAssertThrowsError(try file.dataset("nope")) { error in
            XCTAssertEqual("\(error)", "/nope: no such dataset")
        }
        try file.write("x", [Float(1), 2])
        XCTAssertThrowsError(try file.write("x", [Float(1), 2])) { error in
            XCTAssertTrue("\(error)".contains("creating dataset /x"), "\(error)")
        }
        try file.writeStrings("names", ["a"])
        XCTAssertThrowsError(try file.read("names", as: Float.self)) { error in
            XCTAssertTrue("\(error)".contains("expected numbers"), "\(error)")
        }
    }

    func testReadsTheReferenceFixtureWrittenByH5py() throws {
        let file = try HDF5File(path: fixturePath("reference_blocks.h5"), mode: .readOnly)
        let block = try file.group("causal_block")
        XCTAssertEqual(try block.stringAttribute("activation"), "gelu_tanh")  // fixed-length string
        XCTAssertEqual(try block.intAttribute("channels"), 8)
        XCTAssertEqual(try block.dataset("inputs/x").shape, [2, 5, 8])
    }
}

private extension HDF5File {
    /// Attributes on the root group behave like on any object.
    func root(setAttributes file: HDF5File) throws {
        try file.setAttribute("step", Int64(7))
        XCTAssertEqual(try file.intAttribute("step"), 7)
        try file.setAttribute("step", Int64(8))  // replace
        XCTAssertEqual(try file.intAttribute("step"), 8)
    }
}
