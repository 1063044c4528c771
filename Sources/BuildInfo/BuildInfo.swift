import Foundation
import PackagePlugin

/// Records what `trainer --version` says about the build: a shell command writes `BuildInfo.swift`
/// (the sources' git commit, the Swift compiler's version, the `TRAINER_TARGET_CPU` setting and, for
/// `native`, the instruction-set extensions of the CPU that builds, which the binary may then use)
/// into the build folder, never into the sources. Outside a git clone of this package, or without
/// git, the commit is "unknown"; "-dirty" marks uncommitted changes to tracked files.
///
/// It is a build command, run when its inputs change: the clone's HEAD, its reflog and its index
/// (a commit, a checkout, a pull) and the package's source files (for "-dirty"). (A prebuild
/// command would be simpler, but SwiftPM skips plugins on incremental builds when the package's
/// structure has not changed, swiftlang/swift-package-manager#5476, so the commit would go stale;
/// for the same reason, after editing this file, touch Package.swift.) The file is rewritten only
/// when its text changes, so an unchanged build recompiles nothing.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("BuildInfo.swift")
        let swiftc = (try? context.tool(named: "swiftc").url.path) ?? "swiftc"
        let targetCPU = ProcessInfo.processInfo.environment["TRAINER_TARGET_CPU"] ?? "native"
        let package = context.package.directoryURL
        let sources = context.package.sourceModules.flatMap { $0.sourceFiles.map(\.url) }
        return [.buildCommand(
            displayName: "Recording the commit and the compiler for trainer --version",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", script, "build-info", package.path, output.path, swiftc, targetCPU],
            inputFiles: gitFiles(package: package) + [package.appendingPathComponent("Package.swift")] + sources,
            outputFiles: [output])]
    }

    /// The files of the package's git clone that change when HEAD moves or the index is written
    /// (none outside a clone). In a worktree, `.git` is a file naming the worktree's own folder.
    func gitFiles(package: URL) -> [URL] {
        let dotGit = package.appendingPathComponent(".git")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dotGit.path, isDirectory: &isDirectory) else { return [] }
        var folder = dotGit
        if !isDirectory.boolValue {
            guard let text = try? String(contentsOf: dotGit, encoding: .utf8), text.hasPrefix("gitdir: ") else { return [] }
            let path = text.dropFirst("gitdir: ".count).trimmingCharacters(in: .whitespacesAndNewlines)
            folder = path.hasPrefix("/") ? URL(fileURLWithPath: path) : package.appendingPathComponent(path)
        }
        return ["HEAD", "logs/HEAD", "index"].map { folder.appendingPathComponent($0) }
            .filter { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// `sh -c script build-info PACKAGE OUTPUT SWIFTC TARGET_CPU`.
    let script = #"""
        package="$1" output="$2" swiftc="$3" cpu="$4"
        commit=unknown
        top=$(git -C "$package" rev-parse --show-toplevel 2>/dev/null) || top=""
        if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(cd "$package" && pwd -P)" ]; then
          commit=$(git -C "$package" rev-parse --short=12 HEAD 2>/dev/null) || commit=unknown
          if [ "$commit" != unknown ] && ! git -C "$package" diff --quiet HEAD -- 2>/dev/null; then commit="$commit-dirty"; fi
        fi
        compiler=$("$swiftc" --version 2>/dev/null | sed -n 's/.*\(Swift version .*\)/\1/p' | head -n 1)
        [ -n "$compiler" ] || compiler=unknown
        features=""
        if [ "$cpu" = native ] && [ -r /proc/cpuinfo ]; then
          flags=" $(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -n 1) "
          for feature in ssse3 sse4_1 sse4_2 popcnt avx avx2 fma f16c bmi1 bmi2 movbe avx512f avx512cd avx512bw avx512dq \
                         avx512vl avx512ifma avx512vbmi avx512_vbmi2 avx512_vnni avx512_bitalg avx512_vpopcntdq avx512_bf16 \
                         avx512_fp16 gfni vaes vpclmulqdq; do
            case "$flags" in *" $feature "*) features="$features $feature" ;; esac
          done
        fi
        next="$output.next"
        {
          echo '// Written by the BuildInfo plugin (Sources/BuildInfo) at build time; not part of the sources.'
          echo 'enum BuildInfo {'
          echo "    static let commit = #\"$commit\"#"
          echo "    static let compiler = #\"$compiler\"#"
          echo "    static let targetCPU = #\"$cpu\"#"
          echo "    static let cpuFeatures = #\"${features# }\"#"
          echo '}'
        } > "$next"
        if cmp -s "$next" "$output"; then rm -f "$next"; else mv -f "$next" "$output"; fi
        """#
}
