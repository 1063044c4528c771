import Foundation

/// Facts about the processor that the trainer reports or acts on.
public enum CPU {
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
}
