import Foundation
import PackagePlugin

/// Records what `trainer --version` says about the build: before every build, a shell command
/// writes `BuildInfo.swift` (the sources' git commit, the Swift compiler's version and the
/// `TRAINER_TARGET_CPU` setting) into the build folder, never into the sources. The file is
/// rewritten only when its text changes, so an unchanged build recompiles nothing. Outside a git
/// clone of this package, or without git, the commit is "unknown"; "-dirty" marks uncommitted
/// changes to tracked files.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("Generated")
        let swiftc = (try? context.tool(named: "swiftc").url.path) ?? "swiftc"
        let targetCPU = ProcessInfo.processInfo.environment["TRAINER_TARGET_CPU"] ?? "native"
        return [.prebuildCommand(
            displayName: "Recording the commit and the compiler for trainer --version",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", script, "build-info", context.package.directoryURL.path, output.path, swiftc, targetCPU],
            outputFilesDirectory: output)]
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
        mkdir -p "$output"
        next="$output/../BuildInfo.swift.next"
        {
          echo '// Written by the BuildInfo plugin (Sources/BuildInfo) at build time; not part of the sources.'
          echo 'enum BuildInfo {'
          echo "    static let commit = #\"$commit\"#"
          echo "    static let compiler = #\"$compiler\"#"
          echo "    static let targetCPU = #\"$cpu\"#"
          echo '}'
        } > "$next"
        if cmp -s "$next" "$output/BuildInfo.swift"; then rm -f "$next"; else mv -f "$next" "$output/BuildInfo.swift"; fi
        """#
}
