import Foundation

/// The safetensors format (Hugging Face's `safetensors`, the weights format of its ecosystem),
/// written from its description:
///
///     8 bytes         N, the header's length, an unsigned 64-bit little-endian integer
///     N bytes         the header: UTF-8 JSON, an object with one member per tensor,
///                       "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
///                     and an optional "__metadata__": {string: string}; padded with spaces so that
///                     the data starts at a multiple of 8 bytes
///     the rest        the tensors' bytes, row-major and little-endian; offsets count from the first
///                     byte after the header, and the tensors fill it with no gap and no overlap
///
/// Here every tensor is float32, and the tensors are stored in the order given, which is also the
/// header's order.
public enum SafeTensors {
    /// One float32 tensor: its name, its shape (row-major, PyTorch's order) and its values.
    public struct Tensor: Sendable, Equatable {
        /// The name in the header, e.g. `transformer.h.0.attn.c_attn.weight`.
        public var name: String
        /// Dimensions, outermost first.
        public var shape: [Int]
        /// The elements, row-major.
        public var values: [Float]

        /// A tensor of `shape` holding `values` (as many as the shape has elements).
        public init(name: String, shape: [Int], values: [Float]) {
            precondition(shape.reduce(1, *) == values.count, "\(name): shape \(shape) does not hold \(values.count) values")
            self.name = name
            self.shape = shape
            self.values = values
        }

        /// Bytes of data.
        public var byteCount: Int { values.count * MemoryLayout<Float>.size }
    }

    /// The key of the metadata object.
    public static let metadataKey = "__metadata__"

    /// The header (JSON, padded with spaces to a multiple of 8 bytes), without the length before it.
    /// - Throws: `TrainerError` for an empty or repeated name, or one that is the metadata key.
    public static func header(_ tensors: [Tensor], metadata: [String: String]) throws -> [UInt8] {
        var seen = Set<String>()
        for tensor in tensors {
            guard !tensor.name.isEmpty, tensor.name != metadataKey else {
                throw TrainerError("safetensors: '\(tensor.name)' cannot name a tensor")
            }
            guard seen.insert(tensor.name).inserted else { throw TrainerError("safetensors: two tensors named '\(tensor.name)'") }
        }
        var members: [(String, JSONText)] = []
        if !metadata.isEmpty {
            members.append((metadataKey, .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        for tensor in tensors {
            members.append((tensor.name, .object([
                ("dtype", .string("F32")),
                ("shape", .array(tensor.shape.map { .int($0) })),
                ("data_offsets", .array([.int(offset), .int(offset + tensor.byteCount)])),
            ])))
            offset += tensor.byteCount
        }
        var bytes = Array(JSONText.object(members).compact.utf8)
        bytes += Array(repeating: UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8)
        return bytes
    }

    /// Writes the file at `path` atomically (`AtomicFile`): a reader sees the previous file or the
    /// complete new one.
    public static func write(_ tensors: [Tensor], metadata: [String: String], to path: String) throws {
        let header = try header(tensors, metadata: metadata)
        try AtomicFile.write(to: path) { temporary in
            guard let file = fopen(temporary, "wb") else {
                throw TrainerError("\(path): cannot create (\(String(cString: strerror(errno))))")
            }
            var closed = false
            defer { if !closed { fclose(file) } }
            func put(_ bytes: UnsafeRawBufferPointer) throws {
                guard fwrite(bytes.baseAddress, 1, bytes.count, file) == bytes.count else {
                    throw TrainerError("\(path): write failed (\(String(cString: strerror(errno))))")
                }
            }
            try withUnsafeBytes(of: UInt64(header.count).littleEndian, put)
            try header.withUnsafeBytes(put)
            for tensor in tensors {
                // Little-endian on every host (a no-op on x86 and ARM).
                try tensor.values.map { $0.bitPattern.littleEndian }.withUnsafeBytes(put)
            }
            closed = true
            guard fclose(file) == 0 else { throw TrainerError("\(path): write failed (\(String(cString: strerror(errno))))") }
        }
    }
}
