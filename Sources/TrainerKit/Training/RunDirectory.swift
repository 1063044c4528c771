import CSignals
import Foundation

/// A run directory's housekeeping, done by rank 0 before training writes anything there: one run at
/// a time (an exclusive `flock` on `run_dir/.lock`, which holds the owner's PID), no checkpoint
/// replaced by accident, no temporary files of dead processes left behind, and a `metrics.jsonl`
/// that matches the checkpoint the run starts from.
public final class RunDirectory {
    public let path: String
    private var lockDescriptor: Int32 = -1

    public var lockPath: String { path + "/.lock" }
    public var checkpointPath: String { path + "/ckpt.h5" }
    public var metricsPath: String { path + "/metrics.jsonl" }

    /// Creates the folder if needed and takes its lock.
    /// - Throws: when another process holds the lock (naming its PID), or the folder cannot be made.
    public init(path: String) throws {
        self.path = path
        try Self.makeDirectories(path)
        lockDescriptor = trainer_lock_file(lockPath)
        guard lockDescriptor >= 0 else {
            if errno == EWOULDBLOCK {
                let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
                throw TrainerError("run_dir \(path) is in use by another run (PID \(holder.isEmpty ? "?" : holder), lock \(lockPath)); wait for it to finish or choose another run_dir")
            }
            throw TrainerError("run_dir \(path): cannot lock \(lockPath) (\(String(cString: strerror(errno))))")
        }
        // The holder's PID, for the message above (the lock itself is the flock, not the contents).
        ftruncate(lockDescriptor, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(lockDescriptor, $0, strlen($0)) }
    }

    deinit { trainer_unlock_file(lockDescriptor) }

    /// Removes the temporary files (`.<name>.tmp-<pid>`, see `AtomicFile`) of processes that no
    /// longer exist: what a `kill -9` during a write leaves. Returns their names.
    @discardableResult
    public func removeStaleTemporaries() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        var removed: [String] = []
        for name in names where name.hasPrefix(".") {
            guard let range = name.range(of: ".tmp-", options: .backwards), let pid = Int32(name[range.upperBound...]),
                  pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            if unlink(path + "/" + name) == 0 { removed.append(name) }
        }
        return removed.sorted()
    }

    /// Keeps only the records of steps before `step` in metrics.jsonl (a resume from a checkpoint
    /// of step `step` writes the later ones again); `step` 0 empties it (a fresh start).
    public func truncateMetrics(before step: Int) throws {
        guard FileManager.default.fileExists(atPath: metricsPath) else { return }
        let kept: [Substring]
        if step == 0 {
            kept = []
        } else {
            let text = (try? String(contentsOfFile: metricsPath, encoding: .utf8)) ?? ""
            kept = text.split(separator: "\n").filter { line in
                guard let recorded = Self.step(of: line) else { return false }
                return recorded < step
            }
        }
        try AtomicFile.write(to: metricsPath) { temporary in
            let text = kept.isEmpty ? "" : kept.joined(separator: "\n") + "\n"
            guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8)) else {
                throw TrainerError("\(metricsPath): cannot rewrite it (\(String(cString: strerror(errno))))")
            }
        }
    }

    /// The `"step": N` of a metrics record.
    static func step(of line: Substring) -> Int? {
        guard let range = line.range(of: "\"step\": ") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber || $0 == "-" })
    }

    /// `mkdir -p`, with the system's reason when a level cannot be made.
    static func makeDirectories(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw TrainerError("run_dir \(path) exists and is not a directory") }
            return
        }
        // The parent by hand: Foundation's deletingLastPathComponent traps on one-letter names.
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        if let slash = trimmed.lastIndex(of: "/"), slash > trimmed.startIndex {
            try makeDirectories(String(trimmed[..<slash]))
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw TrainerError("run_dir \(path): cannot create it (\(String(cString: strerror(errno))))")
        }
    }
}
