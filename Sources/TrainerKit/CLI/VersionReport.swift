import Foundation

/// `trainer --version`: the trainer's version and build, and the libraries it runs on, as a bug
/// report needs them.
public enum VersionReport {
    /// The trainer's version number (the one place it is defined).
    public static let number = "0.14.0"

    /// The text of `trainer --version`, one item per line. `commit`, `compiler` and `targetCPU`
    /// describe the build (the executable records them when it is built); the libraries are asked
    /// at run time, without starting MPI, and named with the file they were loaded from.
    public static func text(commit: String, compiler: String, targetCPU: String) -> String {
        func loaded(_ symbol: String) -> String { SharedLibrary.path(defining: symbol).map { " (\($0))" } ?? "" }
        return [
            "trainer \(number)",
            "commit: \(commit)",
            "swift: \(compiler), -target-cpu \(targetCPU)",
            "blas: \(BLAS.libraryVersion)\(loaded("openblas_get_config"))",
            "kernel: \(BLASKernel.summary)",
            "mpi: \(Communicator.libraryVersion)\(loaded("MPI_Get_library_version"))",
            "hdf5: \(HDF5Library.version)\(loaded("H5get_libversion"))",
        ].joined(separator: "\n")
    }
}
