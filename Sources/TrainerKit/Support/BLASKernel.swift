import CBLAS
import Foundation

/// Which OpenBLAS kernel family ("core type") runs the products, and how the trainer chooses it.
///
/// OpenBLAS picks its kernels once, when it is loaded: from the CPU model, or from the
/// environment variable `OPENBLAS_CORETYPE`. Cluster modules, containers and CI images set that
/// variable (for example to `Haswell`, the AVX2 kernels), which halves sgemm on an AVX-512 CPU
/// without a word. The config key `blas_kernel` decides instead:
/// - `auto` (the default): the fastest family this CPU can run. If the loaded one is slower, the
///   trainer re-executes itself with `OPENBLAS_CORETYPE` set (same process id and arguments,
///   before MPI starts, so it works under `mpirun` too), and says so at start-up.
/// - `inherit`: whatever the environment (or OpenBLAS's own detection) chose.
/// - a family name (`Haswell`, `SkylakeX`, `Cooperlake`, ...): that one; an error if the CPU
///   lacks its instructions.
///
/// The choice is read before anything else runs (`requestedChoice`, with the config), from
/// `--set blas_kernel=...`, then the variable `TRAINER_BLAS_KERNEL`, then the `blas_kernel` key of
/// the `--config` file.
public enum BLASKernel {
    /// The family OpenBLAS runs (`openblas_get_corename`), e.g. "Cooperlake".
    public static var current: String { String(cString: openblas_get_corename()) }

    /// The x86-64 families the trainer chooses between, slowest first, with the CPU flags (as in
    /// /proc/cpuinfo) each one's kernels need. OpenBLAS's own detection may also report Cooperlake
    /// (or SapphireRapids in newer versions) for AVX-512 CPUs with bf16: their fp32 kernels are
    /// SkylakeX's, and OpenBLAS 0.3.21 does not accept those names in `OPENBLAS_CORETYPE`
    /// ("Core not found"), so SkylakeX is what the trainer asks for on any AVX-512 CPU.
    public static let ladder: [(name: String, flags: [String])] = [
        ("Sandybridge", ["avx"]),
        ("Haswell", ["avx2", "fma"]),
        ("SkylakeX", ["avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"]),
    ]

    /// The x86-64 family names of OpenBLAS 0.3 (a name it does not accept in `OPENBLAS_CORETYPE`
    /// makes it fall back to its own detection, which is why the trainer checks what it got).
    public static let knownNames = [
        "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Nano", "Athlon", "Opteron", "Opteron_SSE3",
        "Barcelona", "Bobcat", "Bulldozer", "Piledriver", "Steamroller", "Excavator", "Sandybridge", "Haswell", "Zen",
        "SkylakeX", "Cooperlake",
    ]

    /// A family's rank on the ladder: 0 below it, 1 AVX (Sandybridge and AMD's AVX cores), 2 AVX2
    /// (Haswell, Zen), 3 AVX-512 (SkylakeX, Cooperlake, SapphireRapids).
    public static func level(_ name: String) -> Int {
        switch name.lowercased() {
        case "bulldozer", "piledriver", "steamroller", "excavator": return 1
        case "zen": return 2
        case "cooperlake", "sapphirerapids": return 3
        default: return (ladder.firstIndex { $0.name.lowercased() == name.lowercased() } ?? -1) + 1
        }
    }

    /// The families of the ladder this CPU can run, slowest first.
    public static func runnable(flags: Set<String> = CPU.flags) -> [String] {
        ladder.filter { $0.flags.allSatisfy(flags.contains) }.map(\.name)
    }

    /// The `blas_kernel` setting.
    public enum Choice: Sendable, Equatable, CustomStringConvertible {
        case auto, inherit
        case named(String)

        /// Parses a setting: `auto`, `inherit`, or a family OpenBLAS knows (any letter case).
        public init(_ text: String) throws {
            switch text.lowercased() {
            case "auto": self = .auto
            case "inherit": self = .inherit
            default:
                guard let name = knownNames.first(where: { $0.lowercased() == text.lowercased() }) else {
                    throw TrainerError("blas_kernel '\(text)' is not auto, inherit or an OpenBLAS kernel (\(ladder.map(\.name).joined(separator: ", ")), ...)")
                }
                self = .named(name)
            }
        }

        public var description: String {
            switch self {
            case .auto: return "auto"
            case .inherit: return "inherit"
            case .named(let name): return name
            }
        }
    }

    /// The family to restart with so that `choice` holds, or nil when the loaded one will do.
    /// - Throws: when a named family needs instructions this CPU lacks (it would crash).
    public static func plan(_ choice: Choice, current: String, flags: Set<String>) throws -> String? {
        switch choice {
        case .inherit:
            return nil
        case .named(let name):
            if name.lowercased() == current.lowercased() { return nil }
            if let needs = ladder.first(where: { $0.name == name })?.flags, let missing = needs.first(where: { !flags.contains($0) }) {
                throw TrainerError("blas_kernel \(name) needs the CPU feature \(missing), which this CPU lacks (it can run: \(runnable(flags: flags).joined(separator: ", ")))")
            }
            return name
        case .auto:
            guard let best = runnable(flags: flags).last, level(current) < level(best) else { return nil }
            return best
        }
    }

    /// What the start-up line says about the kernel, set by `selectAtStartUp`.
    nonisolated(unsafe) public private(set) static var summary = "OpenBLAS kernel \(current)"

    /// Variable through which a re-executed process learns what its parent inherited.
    static let inheritedVariable = "TRAINER_BLAS_INHERITED"

    /// Applies the `blas_kernel` setting `choice` before OpenBLAS runs its first product: re-executes this
    /// program with `OPENBLAS_CORETYPE` set when another family is needed (this call then does not
    /// return), and sets `summary`. Call it first thing in `main`.
    public static func selectAtStartUp(_ choice: Choice,
                                       environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let inherited = environment["OPENBLAS_CORETYPE"].map { "OPENBLAS_CORETYPE=\($0)" } ?? "OpenBLAS's detection"
        if let parent = environment[inheritedVariable] {
            // The re-executed process: report, never restart again.
            unsetenv(inheritedVariable)
            if case .named(let name) = choice, name.lowercased() != current.lowercased() {
                throw TrainerError("blas_kernel \(name): OpenBLAS runs \(current) instead (\(BLAS.configuration))")
            }
            summary = "OpenBLAS kernel \(current) (blas_kernel \(choice); replaces \(parent))"
            return
        }
        let loaded = current
        if let target = try plan(choice, current: loaded, flags: CPU.flags) {
            #if os(Linux)
            setenv(inheritedVariable, "\(loaded) from \(inherited)", 1)
            setenv("OPENBLAS_CORETYPE", target, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // execv returns only on failure: carry on with the loaded family.
            unsetenv(inheritedVariable)
            #endif
            summary = "OpenBLAS kernel \(loaded) (blas_kernel \(choice) wanted \(target), but restarting failed)"
            return
        }
        let better = runnable().last.flatMap { level($0) > level(loaded) ? $0 : nil }
        summary = "OpenBLAS kernel \(loaded) (blas_kernel \(choice), from \(inherited)"
            + (better.map { "; this CPU can run \($0)" } ?? "") + ")"
    }
}
