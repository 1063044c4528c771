import CKernels

/// The instruction set of the element-wise kernels written in C (`Sources/CKernels`). The widest the
/// CPU supports is chosen at run time; every choice computes the same operations in the same order,
/// so results are bit-identical on any of them (the tests compare every one the machine can run).
public enum VectorInstructions: Int32, CaseIterable, Sendable, CustomStringConvertible {
    /// Plain C, one element at a time: any CPU.
    case portable = 0
    /// AVX2 with FMA: 8 lanes.
    case avx2 = 1
    /// AVX-512F: 16 lanes.
    case avx512 = 2

    /// The set in use.
    public static var inUse: VectorInstructions {
        VectorInstructions(rawValue: trainer_vector_isa()) ?? .portable
    }

    /// Every set this CPU can run, narrowest first.
    public static var supported: [VectorInstructions] {
        let previous = trainer_vector_isa()
        defer { trainer_set_vector_isa(previous) }
        let widest = trainer_set_vector_isa(-1)
        return allCases.filter { $0.rawValue <= widest }
    }

    /// Runs `body` with the kernels on `instructions` (if supported, else the widest), then restores
    /// the previous choice. Process-wide: for tests and benchmarks, while no kernel runs elsewhere.
    public static func with<T>(_ instructions: VectorInstructions, _ body: () throws -> T) rethrows -> T {
        let previous = trainer_vector_isa()
        defer { trainer_set_vector_isa(previous) }
        trainer_set_vector_isa(instructions.rawValue)
        return try body()
    }

    public var description: String {
        switch self {
        case .portable: "portable C"
        case .avx2: "AVX2"
        case .avx512: "AVX-512"
        }
    }
}
