import Foundation

extension BLASKernel {
    /// The setting in force: the last `--set blas_kernel=X`, else `TRAINER_BLAS_KERNEL`, else the
    /// `blas_kernel` key of the `--config` file (if it loads), else `auto`.
    public static func requestedChoice(arguments: [String], environment: [String: String]) throws -> Choice {
        var fromSet: String?, configPath: String?
        var i = 1
        while i < arguments.count {
            let argument = arguments[i]
            let (option, inlineValue): (String, String?) = argument.hasPrefix("--") && argument.contains("=")
                ? (String(argument.prefix { $0 != "=" }), String(argument.drop { $0 != "=" }.dropFirst()))
                : (argument, nil)
            let value = inlineValue ?? (i + 1 < arguments.count ? arguments[i + 1] : nil)
            if inlineValue == nil && (option == "--set" || option == "--config") { i += 1 }
            if option == "--set", let value, value.hasPrefix("blas_kernel=") { fromSet = String(value.dropFirst("blas_kernel=".count)) }
            if option == "--config" { configPath = value }
            i += 1
        }
        if let fromSet { return try Choice(fromSet) }
        if let text = environment["TRAINER_BLAS_KERNEL"] { return try Choice(text) }
        if let configPath, let config = try? ConfigLoader.load(path: configPath) { return try Choice(config.blasKernel) }
        return .auto
    }
}
