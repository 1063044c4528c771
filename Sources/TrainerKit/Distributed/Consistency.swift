import Foundation

/// Checks that all ranks of a job run the same thing: the same config and dataset at start, the
/// same parameters during training.
public enum Consistency {
    /// A 64-bit fingerprint of a text (the first 8 bytes of its SHA-256).
    public static func fingerprint(_ text: String) -> UInt64 {
        var hash = SHA256()
        hash.update(Array(text.utf8))
        return UInt64(hash.hexDigest().prefix(16), radix: 16)!
    }

    /// A cheap checksum of a float buffer: the wrapping sum of each value's bits times its position
    /// (sensitive to any change of any bit and to order; far cheaper than a cryptographic hash).
    public static func checksum(_ buffer: FloatBuffer) -> UInt64 {
        var sum: UInt64 = 0
        let p = buffer.pointer
        for i in 0 ..< buffer.count { sum &+= UInt64(p[i].bitPattern) &* UInt64(2 * i + 1) }
        return sum
    }

    /// The ranks whose value differs from rank 0's.
    static func ranksDiffering(from values: [UInt64]) -> [Int] {
        values.indices.filter { values[$0] != values[0] }
    }

    /// Refuses to start when ranks were given different configs or datasets: every rank gets the
    /// same error naming the odd ranks (and the job is then stopped by the caller).
    public static func requireSameSetup(_ description: String, communicator: Communicator) throws {
        let all = try communicator.allgather(fingerprint(description))
        let odd = ranksDiffering(from: all)
        guard odd.isEmpty else {
            throw TrainerError("rank\(odd.count > 1 ? "s" : "") \(odd.map(String.init).joined(separator: ", ")) started with a different config or dataset than rank 0; start every rank with the same arguments and files")
        }
    }

    /// Compares the parameters across ranks; on a mismatch every rank throws the same error naming
    /// the ranks that differ from rank 0.
    public static func requireSameParameters(_ values: FloatBuffer, step: Int, communicator: Communicator) throws {
        guard communicator.size > 1 else { return }
        let all = try communicator.allgather(checksum(values))
        let odd = ranksDiffering(from: all)
        guard odd.isEmpty else {
            throw TrainerError("step \(step): the parameters of rank\(odd.count > 1 ? "s" : "") \(odd.map(String.init).joined(separator: ", ")) differ from rank 0's (checksums \(all.map { String($0, radix: 16) }.joined(separator: " "))); the ranks have diverged")
        }
    }
}
