import Foundation

/// Appends token ids to extendable, chunked, deflated 1-D datasets `/<split>/tokens`, buffering
/// so that each HDF5 write covers whole chunks.
final class TokenWriter {
    static let chunk = 1 << 16
    let datasets: [HDF5Dataset]
    let wide: Bool
    var buffers: [[Int32]]
    var lengths: [Int]

    init(file: HDF5File, vocabulary: Int, splits: [String], name: String = "tokens") throws {
        let wide = vocabulary > Int(UInt16.max)  // ARCHITECTURE.md "Dataset": uint32 if vocab > 65535
        self.wide = wide
        datasets = try splits.map { split in
            wide ? try file.createDataset("\(split)/\(name)", of: UInt32.self, shape: [0], maxShape: [nil], chunk: [TokenWriter.chunk], deflate: 1)
                 : try file.createDataset("\(split)/\(name)", of: UInt16.self, shape: [0], maxShape: [nil], chunk: [TokenWriter.chunk], deflate: 1)
        }
        buffers = splits.map { _ in [] }
        lengths = splits.map { _ in 0 }
    }

    func append<C: Collection>(_ ids: C, to split: Int) throws where C.Element == Int32 {
        buffers[split].append(contentsOf: ids)
        if buffers[split].count >= 16 * TokenWriter.chunk { try flush(split) }
    }

    private func flush(_ split: Int) throws {
        let values = buffers[split]
        if values.isEmpty { return }
        if wide {
            try values.map { UInt32(bitPattern: $0) }.withUnsafeBufferPointer { try datasets[split].append($0) }
        } else {
            try values.map { UInt16(truncatingIfNeeded: $0) }.withUnsafeBufferPointer { try datasets[split].append($0) }
        }
        lengths[split] += values.count
        buffers[split].removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered.
    func finish() throws {
        for split in buffers.indices { try flush(split) }
    }
}
