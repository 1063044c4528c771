import Foundation

/// Where the code this process runs comes from, for bug reports.
enum SharedLibrary {
    /// The file (symbolic links resolved) that holds the C function `symbol` in this process: a
    /// shared library, or the executable itself when the library was linked in statically; nil
    /// when no loaded object defines it, or off Linux (read from /proc/self/maps).
    static func path(defining symbol: String) -> String? {
        #if os(Linux)
        // A null handle is RTLD_DEFAULT: every object loaded, in load order.
        // (Read line by line with stdio: Foundation's whole-file readers stop after the first read,
        // about a page, of a /proc file, whose size reads as 0.)
        guard let address = dlsym(nil, symbol).map({ UInt(bitPattern: $0) }),
              let maps = fopen("/proc/self/maps", "r") else { return nil }
        defer { fclose(maps) }
        var buffer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(buffer) }
        // Lines are "start-end perms offset device inode   path", addresses in hexadecimal; only
        // the path has a slash.
        while getline(&buffer, &capacity, maps) > 0, let buffer {
            let line = String(cString: buffer).trimmingCharacters(in: .newlines)
            guard let slash = line.firstIndex(of: "/") else { continue }
            let range = line.prefix { $0 != " " }.split(separator: "-").compactMap { UInt($0, radix: 16) }
            guard range.count == 2, range[0] <= address, address < range[1] else { continue }
            return URL(fileURLWithPath: String(line[slash...])).resolvingSymlinksInPath().path
        }
        #endif
        return nil
    }
}
