import CHDF5
import Foundation

// Thin, safe Swift wrappers over the serial HDF5 C library: files, groups, datasets and attributes.
// Every failing call becomes a `TrainerError` carrying HDF5's own message; nothing crashes and
// HDF5 never prints its error stack itself.

/// Library set-up, run once: open HDF5 and silence its automatic error printing (errors are
/// collected from the error stack instead and thrown). HDF5's own clean-up at exit is turned off:
/// every file the trainer writes is closed (and synced) explicitly, and after a failed close (a
/// full disk) that clean-up would touch the half-closed file and crash on the way out.
enum HDF5Library {
    static let ready: Bool = {
        H5dont_atexit()
        H5open()
        H5Eset_auto2(shim_h5e_default(), nil, nil)
        return true
    }()

    /// The library's version, "major.minor.release".
    static var version: String {
        _ = ready
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        guard H5get_libversion(&major, &minor, &release) >= 0 else { return "unknown" }
        return "\(major).\(minor).\(release)"
    }

    /// Throws if `status` is negative, with `what` and the innermost messages of HDF5's error stack.
    @discardableResult
    static func check<Status: BinaryInteger>(_ status: Status, _ what: @autoclosure () -> String) throws -> Status {
        if status < 0 { throw TrainerError("\(what()): \(errorStackMessage())") }
        return status
    }

    /// One line of an HDF5 error description: an I/O failure's long report ("file write failed:
    /// time = ..., errno = 28, error message = 'No space left on device', ...") becomes
    /// "file write failed: No space left on device".
    static func tidy(_ message: String) -> String {
        let line = message.replacingOccurrences(of: "\n", with: " ")
        guard let start = line.range(of: "error message = '"),
              let end = line[start.upperBound...].firstIndex(of: "'") else { return line }
        return "\(line.prefix { $0 != ":" }): \(line[start.upperBound ..< end])"
    }

    /// The descriptions on HDF5's current error stack, outermost and innermost, in one line.
    static func errorStackMessage() -> String {
        final class Collected { var messages: [String] = [] }
        let collected = Collected()
        let walker: H5E_walk2_t = { _, error, client in
            guard let error, let client else { return 0 }
            let box = Unmanaged<Collected>.fromOpaque(client).takeUnretainedValue()
            if let desc = error.pointee.desc { box.messages.append(String(cString: desc)) }
            return 0
        }
        _ = withExtendedLifetime(collected) {
            H5Ewalk2(shim_h5e_default(), H5E_WALK_DOWNWARD, walker, Unmanaged.passUnretained(collected).toOpaque())
        }
        H5Eclear2(shim_h5e_default())
        let messages = collected.messages.filter { !$0.isEmpty }.map(tidy)
        switch messages.count {
        case 0: return "HDF5 error"
        case 1: return messages[0]
        default: return "\(messages[0]) (\(messages[messages.count - 1]))"
        }
    }
}

/// Owns one HDF5 identifier and closes it with the matching `H5?close` when released.
final class HDF5Handle: @unchecked Sendable {
    let id: hid_t
    private let closer: (hid_t) -> herr_t
    private(set) var isOpen = true
    /// The file a group or dataset lives in (kept open at least as long as they are).
    let file: HDF5Handle?

    init(_ id: hid_t, closer: @escaping (hid_t) -> herr_t, file: HDF5Handle? = nil) {
        self.id = id
        self.closer = closer
        self.file = file
    }

    /// Closes now (once); returns HDF5's status. A group or dataset whose file is already closed
    /// is not closed again: closing the file closed it (H5F_CLOSE_STRONG), and after a failed
    /// close (a full disk) HDF5 may have freed what its identifier points to.
    func close() -> herr_t {
        guard isOpen else { return 0 }
        isOpen = false
        if let file, !file.isOpen { return 0 }
        return closer(id)
    }

    deinit { _ = close() }
}

/// Element types that map onto HDF5 native types.
public protocol HDF5Element {
    /// The HDF5 native type of this Swift type (in memory).
    static var hdf5Type: hid_t { get }
}

extension Float: HDF5Element { public static var hdf5Type: hid_t { shim_native_float() } }

extension Double: HDF5Element { public static var hdf5Type: hid_t { shim_native_double() } }

extension Int8: HDF5Element { public static var hdf5Type: hid_t { shim_native_int8() } }

extension UInt8: HDF5Element { public static var hdf5Type: hid_t { shim_native_uint8() } }

extension UInt16: HDF5Element { public static var hdf5Type: hid_t { shim_native_uint16() } }

extension Int32: HDF5Element { public static var hdf5Type: hid_t { shim_native_int32() } }

extension UInt32: HDF5Element { public static var hdf5Type: hid_t { shim_native_uint32() } }

extension Int64: HDF5Element { public static var hdf5Type: hid_t { shim_native_int64() } }

extension UInt64: HDF5Element { public static var hdf5Type: hid_t { shim_native_uint64() } }

/// A variable-length UTF-8 string type (h5py reads it as `str`).
func makeStringType() throws -> HDF5Handle {
    let type = try HDF5Library.check(H5Tcopy(shim_c_s1()), "H5Tcopy")
    let handle = HDF5Handle(type, closer: H5Tclose)
    try HDF5Library.check(H5Tset_size(type, shim_h5t_variable()), "H5Tset_size")
    try HDF5Library.check(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset")
    return handle
}

/// Reads string data of any HDF5 string type (variable or fixed length) from a dataset or attribute.
/// `read(memoryType, buffer)` performs the actual `H5Dread`/`H5Aread`.
func readStringData(
    fileType: hid_t, space: hid_t, count: Int, what: String, read: (hid_t, UnsafeMutableRawPointer) -> herr_t
) throws -> [String] {
    guard H5Tget_class(fileType) == H5T_STRING else { throw TrainerError("\(what): not a string") }
    if H5Tis_variable_str(fileType) > 0 {
        let memoryType = try makeStringType()
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        try pointers.withUnsafeMutableBytes { bytes in
            _ = try HDF5Library.check(read(memoryType.id, bytes.baseAddress!), "reading \(what)")
        }
        let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
        _ = pointers.withUnsafeMutableBytes { bytes in
            H5Dvlen_reclaim(memoryType.id, space, shim_h5p_default(), bytes.baseAddress!)
        }
        return strings
    }
    let size = H5Tget_size(fileType)
    let memoryType = HDF5Handle(try HDF5Library.check(H5Tcopy(fileType), "H5Tcopy"), closer: H5Tclose)
    var bytes = [UInt8](repeating: 0, count: size * count + 1)
    try bytes.withUnsafeMutableBytes { raw in
        _ = try HDF5Library.check(read(memoryType.id, raw.baseAddress!), "reading \(what)")
    }
    return (0 ..< count).map { i in
        let slice = bytes[(i * size) ..< ((i + 1) * size)]
        let trimmed = slice.prefix { $0 != 0 }
        return String(decoding: trimmed, as: UTF8.self)
    }
}

/// Anything that can carry attributes: a file's root group, a group, or a dataset.
public class HDF5Object: @unchecked Sendable {
    let handle: HDF5Handle
    /// The object's path in the file (for messages).
    public let path: String

    init(handle: HDF5Handle, path: String) {
        self.handle = handle
        self.path = path
    }

    var id: hid_t { handle.id }

    /// The name of the file this object is in (for messages).
    var fileName: String {
        let length = H5Fget_name(id, nil, 0)
        guard length > 0 else { return "HDF5 file" }
        var bytes = [CChar](repeating: 0, count: Int(length) + 1)
        _ = H5Fget_name(id, &bytes, bytes.count)
        return String(decoding: bytes.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `HDF5Library.check` with the file's name in front of the message.
    @discardableResult
    func check<Status: BinaryInteger>(_ status: Status, _ what: @autoclosure () -> String) throws -> Status {
        guard status < 0 else { return status }
        let stack = HDF5Library.errorStackMessage()
        throw TrainerError("\(fileName): \(what()): \(stack)")
    }
    /// The handle of the file this object is in, for the objects opened through it.
    var fileHandle: HDF5Handle { handle.file ?? handle }

    /// Whether an attribute `name` exists on this object.
    public func hasAttribute(_ name: String) -> Bool {
        H5Aexists(id, name) > 0
    }

    /// Names of this object's attributes, in creation order where tracked, else by name.
    public func attributeNames() throws -> [String] {
        var info = H5O_info_t()
        try check(H5Oget_info2(id, &info, UInt32(H5O_INFO_NUM_ATTRS)), "listing attributes of \(path)")
        return try (0 ..< Int(info.num_attrs)).map { index in
            let length = try check(
                H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(index), nil, 0, shim_h5p_default()),
                "reading attribute names of \(path)")
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(index), &buffer, buffer.count, shim_h5p_default())
            return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
    }

    private func replaceAttribute(_ name: String, type: hid_t, space: hid_t, write: (hid_t) -> herr_t) throws {
        if hasAttribute(name) { try check(H5Adelete(id, name), "replacing attribute \(path)@\(name)") }
        let attribute = try check(
            H5Acreate2(id, name, type, space, shim_h5p_default(), shim_h5p_default()),
            "creating attribute \(path)@\(name)")
        defer { H5Aclose(attribute) }
        try check(write(attribute), "writing attribute \(path)@\(name)")
    }

    /// Sets a variable-length UTF-8 string attribute (replacing any previous one).
    public func setAttribute(_ name: String, _ value: String) throws {
        let type = try makeStringType()
        let space = HDF5Handle(try check(H5Screate(H5S_SCALAR), "H5Screate"), closer: H5Sclose)
        try value.withCString { chars in
            var pointer: UnsafePointer<CChar>? = chars
            try replaceAttribute(name, type: type.id, space: space.id) { attribute in
                H5Awrite(attribute, type.id, &pointer)
            }
        }
    }

    /// Sets a scalar numeric attribute (replacing any previous one).
    public func setAttribute<T: HDF5Element>(_ name: String, _ value: T) throws {
        let space = HDF5Handle(try check(H5Screate(H5S_SCALAR), "H5Screate"), closer: H5Sclose)
        try withUnsafeBytes(of: value) { bytes in
            try replaceAttribute(name, type: T.hdf5Type, space: space.id) { attribute in
                H5Awrite(attribute, T.hdf5Type, bytes.baseAddress)
            }
        }
    }

    /// Sets a one-dimensional numeric attribute (replacing any previous one).
    public func setAttribute<T: HDF5Element>(_ name: String, _ values: [T]) throws {
        var dims = [hsize_t(values.count)]
        let space = HDF5Handle(try check(H5Screate_simple(1, &dims, nil), "H5Screate_simple"), closer: H5Sclose)
        try values.withUnsafeBufferPointer { buffer in
            try replaceAttribute(name, type: T.hdf5Type, space: space.id) { attribute in
                H5Awrite(attribute, T.hdf5Type, buffer.baseAddress)
            }
        }
    }

    /// Sets a one-dimensional attribute of variable-length strings.
    public func setAttribute(_ name: String, _ values: [String]) throws {
        let type = try makeStringType()
        var dims = [hsize_t(values.count)]
        let space = HDF5Handle(try check(H5Screate_simple(1, &dims, nil), "H5Screate_simple"), closer: H5Sclose)
        let storage = values.map { strdup($0) }
        defer { storage.forEach { free($0) } }
        var pointers = storage.map { UnsafePointer<CChar>($0) }
        try replaceAttribute(name, type: type.id, space: space.id) { attribute in
            H5Awrite(attribute, type.id, &pointers)
        }
    }

    private func withAttribute<R>(_ name: String, _ body: (hid_t) throws -> R) throws -> R {
        guard hasAttribute(name) else { throw TrainerError("\(path): missing attribute '\(name)'") }
        let attribute = try check(H5Aopen(id, name, shim_h5p_default()), "opening attribute \(path)@\(name)")
        defer { H5Aclose(attribute) }
        return try body(attribute)
    }

    /// Reads a string attribute (scalar, or the first of a string array).
    public func stringAttribute(_ name: String) throws -> String {
        try stringArrayAttribute(name).first ?? ""
    }

    /// Reads a string attribute as an array (a scalar gives one element).
    public func stringArrayAttribute(_ name: String) throws -> [String] {
        try withAttribute(name) { attribute in
            let type = HDF5Handle(H5Aget_type(attribute), closer: H5Tclose)
            let space = HDF5Handle(H5Aget_space(attribute), closer: H5Sclose)
            let count = max(1, Int(H5Sget_simple_extent_npoints(space.id)))
            return try readStringData(fileType: type.id, space: space.id, count: count, what: "\(path)@\(name)") {
                H5Aread(attribute, $0, $1)
            }
        }
    }

    /// Reads a numeric attribute as an array of `T` (HDF5 converts from the stored type).
    public func numericAttribute<T: HDF5Element & Numeric>(_ name: String, as type: T.Type = T.self) throws -> [T] {
        try withAttribute(name) { attribute in
            let space = HDF5Handle(H5Aget_space(attribute), closer: H5Sclose)
            let fileType = HDF5Handle(H5Aget_type(attribute), closer: H5Tclose)
            let typeClass = H5Tget_class(fileType.id)
            guard typeClass == H5T_INTEGER || typeClass == H5T_FLOAT else {
                throw TrainerError("\(path)@\(name): expected a number")
            }
            let count = max(1, Int(H5Sget_simple_extent_npoints(space.id)))
            var values = [T](repeating: 0, count: count)
            try values.withUnsafeMutableBytes { bytes in
                _ = try check(H5Aread(attribute, T.hdf5Type, bytes.baseAddress), "reading \(path)@\(name)")
            }
            return values
        }
    }

    /// Reads a scalar integer attribute.
    public func intAttribute(_ name: String) throws -> Int {
        Int(try numericAttribute(name, as: Int64.self)[0])
    }

    /// Reads a scalar floating-point attribute.
    public func doubleAttribute(_ name: String) throws -> Double {
        try numericAttribute(name, as: Double.self)[0]
    }
}
