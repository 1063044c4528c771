import Foundation
import XCTest
import TrainerKit

/// The safetensors writer against the format's description, read back byte by byte.
final class SafeTensorsTests: XCTestCase {
    func testBytesFollowTheFormatDescription() throws {
        let directory = try makeTemporaryDirectory("safetensors")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Values whose bytes are easy to get wrong: signs, -0, a subnormal, large and odd patterns.
        let matrix: [Float] = [1, -2, 0.5, -0, .pi, 1e30]
        let tensors = [
            SafeTensors.Tensor(name: "a.weight", shape: [2, 3], values: matrix),
            SafeTensors.Tensor(name: "b", shape: [1], values: [Float.leastNonzeroMagnitude]),
            SafeTensors.Tensor(name: "c.bias", shape: [4], values: [Float(bitPattern: 0x0102_0304), -1e-7, 7, 65504]),
        ]
        let metadata = ["format": "pt", "text": "quote \" backslash \\ newline \n tab \t bell \u{7} é€😀"]
        let path = directory + "/model.safetensors"
        try SafeTensors.write(tensors, metadata: metadata, to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))

        // 8 bytes: the header's length N, unsigned little-endian.
        XCTAssertGreaterThan(bytes.count, 8)
        let n = (0 ..< 8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        XCTAssertEqual(n % 8, 0, "the data starts at a multiple of 8 bytes")
        // N bytes of JSON, padded with spaces only.
        let header = Array(bytes[8 ..< 8 + n])
        XCTAssertEqual(header.first, UInt8(ascii: "{"))
        let end = header.lastIndex(of: UInt8(ascii: "}"))!
        XCTAssertTrue(header[(end + 1)...].allSatisfy { $0 == UInt8(ascii: " ") }, "padding is spaces")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(header)) as? [String: Any])
        XCTAssertEqual(object["__metadata__"] as? [String: String], metadata)
        XCTAssertEqual(Set(object.keys), Set(tensors.map(\.name) + ["__metadata__"]))

        // Tensors: F32, their shapes, offsets from the byte after the header, back to back in
        // header order from 0 to the end of the file.
        let text = String(decoding: header, as: UTF8.self)
        let order = tensors.map { tensor in text.range(of: "\"\(tensor.name)\":")!.lowerBound }
        XCTAssertEqual(order, order.sorted(), "the header lists the tensors in the order given")
        var next = 0
        for tensor in tensors {
            let entry = try XCTUnwrap(object[tensor.name] as? [String: Any])
            XCTAssertEqual(entry["dtype"] as? String, "F32")
            XCTAssertEqual(entry["shape"] as? [Int], tensor.shape)
            let offsets = try XCTUnwrap(entry["data_offsets"] as? [Int])
            XCTAssertEqual(offsets, [next, next + 4 * tensor.values.count], tensor.name)
            // Each value: its float32 bits, least significant byte first.
            for (i, value) in tensor.values.enumerated() {
                let at = 8 + n + offsets[0] + 4 * i
                let bits = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
                XCTAssertEqual(bits, value.bitPattern, "\(tensor.name)[\(i)]")
            }
            next = offsets[1]
        }
        XCTAssertEqual(bytes.count, 8 + n + next, "no gap, nothing after the last tensor")
        XCTAssertEqual(Array(bytes[(8 + n + 28) ..< (8 + n + 32)]), [0x04, 0x03, 0x02, 0x01], "little-endian")
    }

    func testHeaderIsPaddedToAMultipleOfEightWhateverItsLength() throws {
        var padded = 0
        for length in 1 ... 8 {
            let tensor = SafeTensors.Tensor(name: String(repeating: "x", count: length), shape: [1], values: [1])
            let header = try SafeTensors.header([tensor], metadata: [:])
            XCTAssertEqual(header.count % 8, 0)
            let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(header)) as? [String: Any])
            XCTAssertNil(json["__metadata__"], "no metadata object when there is none")
            if header.last == UInt8(ascii: " ") { padded += 1 }
        }
        XCTAssertEqual(padded, 7, "seven of eight name lengths need padding")
    }

    func testNamesMustBeDistinctAndNotTheMetadataKey() throws {
        let directory = try makeTemporaryDirectory("safetensors-errors")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/model.safetensors"
        try SafeTensors.write([SafeTensors.Tensor(name: "kept", shape: [1], values: [3])], metadata: [:], to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        for (names, message) in [(["w", "w"], "two tensors named 'w'"), (["__metadata__"], "'__metadata__' cannot name a tensor"),
                                 ([""], "'' cannot name a tensor")] {
            let tensors = names.map { SafeTensors.Tensor(name: $0, shape: [1], values: [1]) }
            XCTAssertThrowsError(try SafeTensors.write(tensors, metadata: [:], to: path)) { error in
                XCTAssertEqual((error as? TrainerError)?.message, "safetensors: \(message)")
            }
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "a failed write leaves the old file")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["model.safetensors"],
                       "and no temporary file")
    }
}

/// A safetensors file read the simplest way (for the export tests): metadata, and the tensors in
/// header order with their values.
struct ReadSafeTensors {
    var metadata: [String: String]
    var tensors: [(name: String, shape: [Int], values: [Float])]

    init(path: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let n = (0 ..< 8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        let header = Data(bytes[8 ..< 8 + n])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: header) as? [String: Any])
        metadata = object["__metadata__"] as? [String: String] ?? [:]
        var tensors: [(name: String, shape: [Int], values: [Float], begin: Int)] = []
        for (name, value) in object where name != "__metadata__" {
            let entry = try XCTUnwrap(value as? [String: Any])
            let offsets = try XCTUnwrap(entry["data_offsets"] as? [Int])
            let values = stride(from: 8 + n + offsets[0], to: 8 + n + offsets[1], by: 4).map { at in
                Float(bitPattern: UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16
                    | UInt32(bytes[at + 3]) << 24)
            }
            tensors.append((name, try XCTUnwrap(entry["shape"] as? [Int]), values, offsets[0]))
        }
        self.tensors = tensors.sorted { $0.begin < $1.begin }.map { ($0.name, $0.shape, $0.values) }
    }

    /// The tensor called `name`.
    func tensor(_ name: String) throws -> (shape: [Int], values: [Float]) {
        let found = try XCTUnwrap(tensors.first { $0.name == name }, "no tensor \(name)")
        return (found.shape, found.values)
    }
}
