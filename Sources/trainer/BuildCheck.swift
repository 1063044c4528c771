import Foundation

/// The instruction-set extensions this binary was compiled to use that this CPU lacks.
///
/// Built with `-target-cpu native` (the default, and launch/install.sh's), the library's Swift
/// loops use every extension of the CPU that built them (`BuildInfo.cpuFeatures`); on a node whose
/// CPU lacks one they would stop with SIGILL in the middle of a run. `main` checks first and says
/// so. This file belongs to the executable, which is compiled for any CPU of its architecture, so
/// the check cannot trip over the instructions it looks for.
func missingCPUFeatures() -> [String] {
    let built = BuildInfo.cpuFeatures.split(separator: " ").map(String.init)
    guard !built.isEmpty, let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    let flags = Set(line.split(separator: " ").map(String.init))
    return built.filter { !flags.contains($0) }
}
