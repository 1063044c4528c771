import CBLAS
import Foundation

/// Facts about the processor that the trainer reports or acts on.
public enum CPU {
    /// The OpenBLAS kernel family in use (`openblas_get_corename`), e.g. "Cooperlake".
    public static var blasCore: String { String(cString: openblas_get_corename()) }

    /// Number of online processors.
    public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// The instruction-set flags of the first processor in /proc/cpuinfo (empty where unavailable).
    public static var flags: Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// OpenBLAS picks its kernels from the CPU model at load time and falls back to the oldest
    /// x86-64 kernels ("Prescott", SSE3) for models newer than it knows, which makes sgemm about 5×
    /// slower on recent Xeons (measured here: 30 vs 150 GFLOP/s on one core). When that happened and
    /// the user did not choose a core type, this names the newest family the CPU's flags support,
    /// for the trainer to restart itself with `OPENBLAS_CORETYPE` set; nil when nothing needs doing.
    public static func betterBLASCore(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil, blasCore == "Prescott" else { return nil }
        let flags = self.flags
        if flags.contains("avx512_bf16") { return "Cooperlake" }
        if flags.contains("avx512f") && flags.contains("avx512vl") { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }
}
