import Foundation

/// Writing a file so that readers see either the old complete file or the new complete file, never
/// a partial one: write a temporary file in the same folder, flush and fsync it, rename it over the
/// target, fsync the folder. A crash or a full disk leaves the previous file untouched.
public enum AtomicFile {
    /// Calls `body` with a temporary path next to `path`, then moves the result into place.
    /// On any error the temporary file is removed and the old file is kept.
    public static func write<R>(to path: String, _ body: (_ temporaryPath: String) throws -> R) throws -> R {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let temporary = folder + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        unlink(temporary)
        do {
            let result = try body(temporary)
            try sync(temporary)
            guard rename(temporary, path) == 0 else {
                throw TrainerError("\(path): cannot move the new file into place (\(String(cString: strerror(errno))))")
            }
            try? sync(folder)
            return result
        } catch let error as TrainerError {
            unlink(temporary)
            // Name the file being written, not its temporary.
            throw TrainerError(error.message.replacingOccurrences(of: temporary, with: path))
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// fsync a file or folder.
    static func sync(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw TrainerError("\(path): cannot open to sync (\(String(cString: strerror(errno))))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw TrainerError("\(path): fsync failed (\(String(cString: strerror(errno))))") }
    }
}
