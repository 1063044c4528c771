import CHDF5
import Foundation

/// An open HDF5 file; also its root group "/".
public final class HDF5File: HDF5Group, @unchecked Sendable {
    /// How to open a file.
    public enum Mode: Sendable {
        /// Existing file, read only.
        case readOnly
        /// Existing file, read and write.
        case readWrite
        /// New file, replacing any existing one.
        case truncate
        /// New file; fails if it exists.
        case exclusive
    }

    /// The file's path on disk.
    public let filePath: String

    /// Opens or creates `path`.
    public init(path: String, mode: Mode) throws {
        _ = HDF5Library.ready
        let fapl = HDF5Handle(try HDF5Library.check(H5Pcreate(shim_h5p_file_access()), "H5Pcreate"), closer: H5Pclose)
        // Closing the file closes everything in it, so a closed file is really closed on disk.
        try HDF5Library.check(H5Pset_fclose_degree(fapl.id, H5F_CLOSE_STRONG), "H5Pset_fclose_degree")
        let file: hid_t
        switch mode {
        case .readOnly, .readWrite:
            guard FileManager.default.fileExists(atPath: path) else { throw TrainerError("\(path): no such file") }
            guard H5Fis_hdf5(path) > 0 else { throw TrainerError("\(path): not an HDF5 file") }
            let flags = mode == .readOnly ? shim_h5f_acc_rdonly() : shim_h5f_acc_rdwr()
            file = try HDF5Library.check(H5Fopen(path, flags, fapl.id), "opening \(path)")
        case .truncate, .exclusive:
            let flags = mode == .truncate ? shim_h5f_acc_trunc() : shim_h5f_acc_excl()
            file = try HDF5Library.check(H5Fcreate(path, flags, shim_h5p_default(), fapl.id), "creating \(path)")
        }
        filePath = path
        super.init(handle: HDF5Handle(file, closer: H5Fclose), path: "/")
    }

    /// Closes the file and every object still open in it; errors (such as a failed final write)
    /// are reported here rather than lost in a destructor.
    public func close() throws {
        try HDF5Library.check(handle.close(), "closing \(filePath)")
    }

    /// Flushes everything written so far to the operating system.
    public func flush() throws {
        try HDF5Library.check(H5Fflush(id, H5F_SCOPE_GLOBAL), "flushing \(filePath)")
    }
}
