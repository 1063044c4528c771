import CHDF5
import Foundation

// Thin, safe Swift wrappers over the serial HDF5 C library: files, groups, datasets and attributes.
// Every failing call becomes a `TrainerError` carrying HDF5's own message; nothing crashes and
// HDF5 never prints its error stack itself.

/// Library set-up, run once: open HDF5 and silence its automatic error printing (errors are
/// collected from the error stack instead and thrown).
enum HDF5Library {
    static let ready: Bool = {
        H5open()
        H5Eset_auto2(shim_h5e_default(), nil, nil)
        return true
    }()

    /// Throws if `status` is negative, with `what` and the innermost messages of HDF5's error stack.
    @discardableResult
    static func check<Status: BinaryInteger>(_ status: Status, _ what: @autoclosure () -> String) throws -> Status {
        if status < 0 { throw TrainerError("\(what()): \(errorStackMessage())") }
        return status
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
        let messages = collected.messages.filter { !$0.isEmpty }
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
    private var isOpen = true

    init(_ id: hid_t, closer: @escaping (hid_t) -> herr_t) {
        self.id = id
        self.closer = closer
    }

    /// Closes now (once); returns HDF5's status.
    func close() -> herr_t {
        guard isOpen else { return 0 }
        isOpen = false
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
private func makeStringType() throws -> HDF5Handle {
    let type = try HDF5Library.check(H5Tcopy(shim_c_s1()), "H5Tcopy")
    let handle = HDF5Handle(type, closer: H5Tclose)
    try HDF5Library.check(H5Tset_size(type, shim_h5t_variable()), "H5Tset_size")
    try HDF5Library.check(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset")
    return handle
}

/// Reads string data of any HDF5 string type (variable or fixed length) from a dataset or attribute.
/// `read(memoryType, buffer)` performs the actual `H5Dread`/`H5Aread`.
private func readStringData(
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

    /// Whether an attribute `name` exists on this object.
    public func hasAttribute(_ name: String) -> Bool {
        H5Aexists(id, name) > 0
    }

    /// Names of this object's attributes, in creation order where tracked, else by name.
    public func attributeNames() throws -> [String] {
        var info = H5O_info_t()
        try HDF5Library.check(H5Oget_info2(id, &info, UInt32(H5O_INFO_NUM_ATTRS)), "listing attributes of \(path)")
        return try (0 ..< Int(info.num_attrs)).map { index in
            let length = try HDF5Library.check(
                H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(index), nil, 0, shim_h5p_default()),
                "reading attribute names of \(path)")
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(index), &buffer, buffer.count, shim_h5p_default())
            return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
    }

    private func replaceAttribute(_ name: String, type: hid_t, space: hid_t, write: (hid_t) -> herr_t) throws {
        if hasAttribute(name) { try HDF5Library.check(H5Adelete(id, name), "replacing attribute \(path)@\(name)") }
        let attribute = try HDF5Library.check(
            H5Acreate2(id, name, type, space, shim_h5p_default(), shim_h5p_default()),
            "creating attribute \(path)@\(name)")
        defer { H5Aclose(attribute) }
        try HDF5Library.check(write(attribute), "writing attribute \(path)@\(name)")
    }

    /// Sets a variable-length UTF-8 string attribute (replacing any previous one).
    public func setAttribute(_ name: String, _ value: String) throws {
        let type = try makeStringType()
        let space = HDF5Handle(try HDF5Library.check(H5Screate(H5S_SCALAR), "H5Screate"), closer: H5Sclose)
        try value.withCString { chars in
            var pointer: UnsafePointer<CChar>? = chars
            try replaceAttribute(name, type: type.id, space: space.id) { attribute in
                H5Awrite(attribute, type.id, &pointer)
            }
        }
    }

    /// Sets a scalar numeric attribute (replacing any previous one).
    public func setAttribute<T: HDF5Element>(_ name: String, _ value: T) throws {
        let space = HDF5Handle(try HDF5Library.check(H5Screate(H5S_SCALAR), "H5Screate"), closer: H5Sclose)
        try withUnsafeBytes(of: value) { bytes in
            try replaceAttribute(name, type: T.hdf5Type, space: space.id) { attribute in
                H5Awrite(attribute, T.hdf5Type, bytes.baseAddress)
            }
        }
    }

    /// Sets a one-dimensional numeric attribute (replacing any previous one).
    public func setAttribute<T: HDF5Element>(_ name: String, _ values: [T]) throws {
        var dims = [hsize_t(values.count)]
        let space = HDF5Handle(try HDF5Library.check(H5Screate_simple(1, &dims, nil), "H5Screate_simple"), closer: H5Sclose)
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
        let space = HDF5Handle(try HDF5Library.check(H5Screate_simple(1, &dims, nil), "H5Screate_simple"), closer: H5Sclose)
        let storage = values.map { strdup($0) }
        defer { storage.forEach { free($0) } }
        var pointers = storage.map { UnsafePointer<CChar>($0) }
        try replaceAttribute(name, type: type.id, space: space.id) { attribute in
            H5Awrite(attribute, type.id, &pointers)
        }
    }

    private func withAttribute<R>(_ name: String, _ body: (hid_t) throws -> R) throws -> R {
        guard hasAttribute(name) else { throw TrainerError("\(path): missing attribute '\(name)'") }
        let attribute = try HDF5Library.check(H5Aopen(id, name, shim_h5p_default()), "opening attribute \(path)@\(name)")
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
                _ = try HDF5Library.check(H5Aread(attribute, T.hdf5Type, bytes.baseAddress), "reading \(path)@\(name)")
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

/// A group: a folder of datasets and groups. Paths may contain '/' (relative to this group).
public class HDF5Group: HDF5Object, @unchecked Sendable {
    /// A link-creation property list that creates missing intermediate groups.
    private func intermediateGroups() throws -> HDF5Handle {
        let lcpl = HDF5Handle(try HDF5Library.check(H5Pcreate(shim_h5p_link_create()), "H5Pcreate"), closer: H5Pclose)
        try HDF5Library.check(H5Pset_create_intermediate_group(lcpl.id, 1), "H5Pset_create_intermediate_group")
        return lcpl
    }

    private func childPath(_ name: String) -> String {
        path == "/" ? "/" + name : path + "/" + name
    }

    /// Whether `name` (a relative path, possibly several levels deep) exists.
    public func exists(_ name: String) -> Bool {
        var prefix = ""
        for component in name.split(separator: "/") {
            prefix += prefix.isEmpty ? String(component) : "/" + component
            if H5Lexists(id, prefix, shim_h5p_default()) <= 0 { return false }
        }
        return !prefix.isEmpty
    }

    /// Creates a group (and any missing parents).
    @discardableResult
    public func createGroup(_ name: String) throws -> HDF5Group {
        let lcpl = try intermediateGroups()
        let group = try HDF5Library.check(
            H5Gcreate2(id, name, lcpl.id, shim_h5p_default(), shim_h5p_default()), "creating group \(childPath(name))")
        return HDF5Group(handle: HDF5Handle(group, closer: H5Gclose), path: childPath(name))
    }

    /// Opens an existing group.
    public func group(_ name: String) throws -> HDF5Group {
        guard exists(name) else { throw TrainerError("\(childPath(name)): no such group") }
        let group = try HDF5Library.check(H5Gopen2(id, name, shim_h5p_default()), "opening group \(childPath(name))")
        return HDF5Group(handle: HDF5Handle(group, closer: H5Gclose), path: childPath(name))
    }

    /// The kind of a child link.
    public enum ChildKind: Sendable { case group, dataset, other }

    /// The names of this group's direct children with their kinds, sorted by name.
    public func children() throws -> [(name: String, kind: ChildKind)] {
        final class Names { var values: [String] = [] }
        let names = Names()
        let visit: H5L_iterate_t = { _, name, _, client in
            guard let name, let client else { return 0 }
            Unmanaged<Names>.fromOpaque(client).takeUnretainedValue().values.append(String(cString: name))
            return 0
        }
        var index: hsize_t = 0
        try withExtendedLifetime(names) {
            _ = try HDF5Library.check(
                H5Literate(id, H5_INDEX_NAME, H5_ITER_INC, &index, visit, Unmanaged.passUnretained(names).toOpaque()),
                "listing \(path)")
        }
        return try names.values.map { name in
            let object = try HDF5Library.check(H5Oopen(id, name, shim_h5p_default()), "opening \(childPath(name))")
            defer { H5Oclose(object) }
            switch H5Iget_type(object) {
            case H5I_GROUP: return (name, .group)
            case H5I_DATASET: return (name, .dataset)
            default: return (name, .other)
            }
        }
    }

    /// The paths (relative to this group) of all datasets below it, depth first, sorted.
    public func datasetPaths() throws -> [String] {
        var result: [String] = []
        for (name, kind) in try children() {
            switch kind {
            case .dataset: result.append(name)
            case .group: result += try group(name).datasetPaths().map { name + "/" + $0 }
            case .other: break
            }
        }
        return result
    }

    /// Creates a dataset of `T` with the given shape. `maxShape` entries of nil are unlimited
    /// (extendable; needs `chunk`). `chunk` enables chunked storage; `deflate` (0–9) compresses it.
    public func createDataset<T: HDF5Element>(
        _ name: String, of type: T.Type, shape: [Int], maxShape: [Int?]? = nil,
        chunk: [Int]? = nil, deflate: Int? = nil
    ) throws -> HDF5Dataset {
        try createDataset(name, type: T.hdf5Type, shape: shape, maxShape: maxShape, chunk: chunk, deflate: deflate)
    }

    private func createDataset(
        _ name: String, type: hid_t, shape: [Int], maxShape: [Int?]?, chunk: [Int]?, deflate: Int?
    ) throws -> HDF5Dataset {
        var dims = shape.map { hsize_t($0) }
        var maxDims = (maxShape ?? shape).map { $0.map { hsize_t($0) } ?? shim_h5s_unlimited() }
        let space = HDF5Handle(
            try HDF5Library.check(H5Screate_simple(Int32(dims.count), &dims, &maxDims), "dataspace for \(childPath(name))"),
            closer: H5Sclose)
        let dcpl = HDF5Handle(try HDF5Library.check(H5Pcreate(shim_h5p_dataset_create()), "H5Pcreate"), closer: H5Pclose)
        if let chunk {
            var chunkDims = chunk.map { hsize_t(max(1, $0)) }
            try HDF5Library.check(H5Pset_chunk(dcpl.id, Int32(chunkDims.count), &chunkDims), "chunking \(childPath(name))")
            if let deflate {
                try HDF5Library.check(H5Pset_shuffle(dcpl.id), "shuffle filter for \(childPath(name))")
                try HDF5Library.check(H5Pset_deflate(dcpl.id, UInt32(deflate)), "deflate filter for \(childPath(name))")
            }
        }
        let lcpl = try intermediateGroups()
        let dataset = try HDF5Library.check(
            H5Dcreate2(id, name, type, space.id, lcpl.id, dcpl.id, shim_h5p_default()),
            "creating dataset \(childPath(name))")
        return HDF5Dataset(handle: HDF5Handle(dataset, closer: H5Dclose), path: childPath(name))
    }

    /// Opens an existing dataset. `chunkCacheBytes` sets the size of its chunk cache (HDF5's
    /// default is 1 MiB), so that many small reads of a compressed dataset decompress each chunk once.
    public func dataset(_ name: String, chunkCacheBytes: Int? = nil) throws -> HDF5Dataset {
        guard exists(name) else { throw TrainerError("\(childPath(name)): no such dataset") }
        var dapl = shim_h5p_default()
        var accessList: HDF5Handle?
        if let chunkCacheBytes {
            let list = HDF5Handle(try HDF5Library.check(H5Pcreate(shim_h5p_dataset_access()), "H5Pcreate"), closer: H5Pclose)
            try HDF5Library.check(H5Pset_chunk_cache(list.id, 10_007, chunkCacheBytes, 1.0), "H5Pset_chunk_cache")
            dapl = list.id
            accessList = list
        }
        let dataset = try HDF5Library.check(H5Dopen2(id, name, dapl), "opening dataset \(childPath(name))")
        withExtendedLifetime(accessList) {}
        return HDF5Dataset(handle: HDF5Handle(dataset, closer: H5Dclose), path: childPath(name))
    }

    /// Creates and fills a dataset in one call.
    @discardableResult
    public func write<T: HDF5Element>(
        _ name: String, _ values: UnsafeBufferPointer<T>, shape: [Int], chunk: [Int]? = nil, deflate: Int? = nil
    ) throws -> HDF5Dataset {
        let dataset = try createDataset(name, of: T.self, shape: shape, chunk: chunk, deflate: deflate)
        try dataset.write(values)
        return dataset
    }

    /// Creates and fills a dataset from an array (shape defaults to one dimension).
    @discardableResult
    public func write<T: HDF5Element>(
        _ name: String, _ values: [T], shape: [Int]? = nil, chunk: [Int]? = nil, deflate: Int? = nil
    ) throws -> HDF5Dataset {
        try values.withUnsafeBufferPointer {
            try write(name, $0, shape: shape ?? [values.count], chunk: chunk, deflate: deflate)
        }
    }

    /// Creates a one-dimensional dataset of variable-length UTF-8 strings.
    @discardableResult
    public func writeStrings(_ name: String, _ values: [String]) throws -> HDF5Dataset {
        let type = try makeStringType()
        let dataset = try createDataset(name, type: type.id, shape: [values.count], maxShape: nil, chunk: nil, deflate: nil)
        let storage = values.map { strdup($0) }
        defer { storage.forEach { free($0) } }
        var pointers = storage.map { UnsafePointer<CChar>($0) }
        try HDF5Library.check(
            H5Dwrite(dataset.id, type.id, shim_h5s_all(), shim_h5s_all(), shim_h5p_default(), &pointers),
            "writing \(dataset.path)")
        return dataset
    }

    /// Reads a whole dataset as an array of `T`.
    public func read<T: HDF5Element & Numeric>(_ name: String, as type: T.Type = T.self) throws -> [T] {
        try dataset(name).read(as: T.self)
    }
}

/// An open HDF5 file; also its root group "/".
public final class HDF5File: HDF5Group, @unchecked Sendable {
    /// How to open a file.
    public enum Mode: Sendable {
        /// Existing file, read only.
        case readOnly
        /// Existing file, read and write.
        case readWrite
        /// New file, replacing any existing one.
        case truncate
        /// New file; fails if it exists.
        case exclusive
    }

    /// The file's path on disk.
    public let filePath: String

    /// Opens or creates `path`.
    public init(path: String, mode: Mode) throws {
        _ = HDF5Library.ready
        let fapl = HDF5Handle(try HDF5Library.check(H5Pcreate(shim_h5p_file_access()), "H5Pcreate"), closer: H5Pclose)
        // Closing the file closes everything in it, so a closed file is really closed on disk.
        try HDF5Library.check(H5Pset_fclose_degree(fapl.id, H5F_CLOSE_STRONG), "H5Pset_fclose_degree")
        let file: hid_t
        switch mode {
        case .readOnly, .readWrite:
            guard FileManager.default.fileExists(atPath: path) else { throw TrainerError("\(path): no such file") }
            guard H5Fis_hdf5(path) > 0 else { throw TrainerError("\(path): not an HDF5 file") }
            let flags = mode == .readOnly ? shim_h5f_acc_rdonly() : shim_h5f_acc_rdwr()
            file = try HDF5Library.check(H5Fopen(path, flags, fapl.id), "opening \(path)")
        case .truncate, .exclusive:
            let flags = mode == .truncate ? shim_h5f_acc_trunc() : shim_h5f_acc_excl()
            file = try HDF5Library.check(H5Fcreate(path, flags, shim_h5p_default(), fapl.id), "creating \(path)")
        }
        filePath = path
        super.init(handle: HDF5Handle(file, closer: H5Fclose), path: "/")
    }

    /// Closes the file and every object still open in it; errors (such as a failed final write)
    /// are reported here rather than lost in a destructor.
    public func close() throws {
        try HDF5Library.check(handle.close(), "closing \(filePath)")
    }

    /// Flushes everything written so far to the operating system.
    public func flush() throws {
        try HDF5Library.check(H5Fflush(id, H5F_SCOPE_GLOBAL), "flushing \(filePath)")
    }
}

/// A dataset: a typed n-dimensional array in a file.
public final class HDF5Dataset: HDF5Object, @unchecked Sendable {
    private func space() throws -> HDF5Handle {
        HDF5Handle(try HDF5Library.check(H5Dget_space(id), "dataspace of \(path)"), closer: H5Sclose)
    }

    /// The current dimensions.
    public var shape: [Int] {
        get throws {
            let space = try space()
            let rank = Int(H5Sget_simple_extent_ndims(space.id))
            var dims = [hsize_t](repeating: 0, count: rank)
            H5Sget_simple_extent_dims(space.id, &dims, nil)
            return dims.map { Int($0) }
        }
    }

    /// The total number of elements.
    public var count: Int {
        get throws { try shape.reduce(1, *) }
    }

    /// The stored element type, described: "float32", "uint16", "string", ...
    public var elementDescription: String {
        let type = HDF5Handle(H5Dget_type(id), closer: H5Tclose)
        let size = H5Tget_size(type.id)
        switch H5Tget_class(type.id) {
        case H5T_FLOAT: return "float\(size * 8)"
        case H5T_INTEGER: return (H5Tget_sign(type.id) == H5T_SGN_NONE ? "uint" : "int") + "\(size * 8)"
        case H5T_STRING: return "string"
        default: return "other"
        }
    }

    /// Whether the stored type is an integer or floating-point type.
    public var isNumeric: Bool {
        let type = HDF5Handle(H5Dget_type(id), closer: H5Tclose)
        let typeClass = H5Tget_class(type.id)
        return typeClass == H5T_INTEGER || typeClass == H5T_FLOAT
    }

    /// Reads the whole dataset into `buffer` (converting to `T`); the counts must match.
    public func read<T: HDF5Element>(into buffer: UnsafeMutableBufferPointer<T>) throws {
        let total = try count
        guard buffer.count == total else {
            throw TrainerError("\(path): holds \(total) elements, expected \(buffer.count)")
        }
        guard isNumeric else { throw TrainerError("\(path): expected numbers, found \(elementDescription)") }
        try HDF5Library.check(
            H5Dread(id, T.hdf5Type, shim_h5s_all(), shim_h5s_all(), shim_h5p_default(), buffer.baseAddress),
            "reading \(path)")
    }

    /// Reads the whole dataset as an array of `T`.
    public func read<T: HDF5Element & Numeric>(as type: T.Type = T.self) throws -> [T] {
        var values = [T](repeating: 0, count: try count)
        try values.withUnsafeMutableBufferPointer { try read(into: $0) }
        return values
    }

    private func selection(offset: [Int], count: [Int]) throws -> (file: HDF5Handle, memory: HDF5Handle) {
        let dims = try shape
        guard offset.count == dims.count, count.count == dims.count,
              zip(zip(offset, count), dims).allSatisfy({ $0.0 >= 0 && $0.1 >= 0 && $0.0 + $0.1 <= $1 })
        else {
            throw TrainerError("\(path): slab at \(offset) of \(count) is outside its shape \(dims)")
        }
        let fileSpace = try space()
        var start = offset.map { hsize_t($0) }, extent = count.map { hsize_t($0) }
        try HDF5Library.check(
            H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &start, nil, &extent, nil), "selecting in \(path)")
        let memorySpace = HDF5Handle(
            try HDF5Library.check(H5Screate_simple(Int32(extent.count), &extent, nil), "H5Screate_simple"),
            closer: H5Sclose)
        return (fileSpace, memorySpace)
    }

    /// Reads the hyperslab `offset ..< offset + count` (per dimension) into `buffer`, row-major.
    public func read<T: HDF5Element>(into buffer: UnsafeMutableBufferPointer<T>, offset: [Int], count: [Int]) throws {
        let total = count.reduce(1, *)
        guard buffer.count == total else { throw TrainerError("\(path): slab of \(total) into \(buffer.count)") }
        if total == 0 { return }
        let (fileSpace, memorySpace) = try selection(offset: offset, count: count)
        try HDF5Library.check(
            H5Dread(id, T.hdf5Type, memorySpace.id, fileSpace.id, shim_h5p_default(), buffer.baseAddress),
            "reading \(path)")
    }

    /// Reads a hyperslab as an array.
    public func read<T: HDF5Element & Numeric>(offset: [Int], count: [Int], as type: T.Type = T.self) throws -> [T] {
        var values = [T](repeating: 0, count: count.reduce(1, *))
        try values.withUnsafeMutableBufferPointer { try read(into: $0, offset: offset, count: count) }
        return values
    }

    /// Writes the whole dataset from `values` (converting from `T`); the counts must match.
    public func write<T: HDF5Element>(_ values: UnsafeBufferPointer<T>) throws {
        let total = try count
        guard values.count == total else { throw TrainerError("\(path): holds \(total) elements, given \(values.count)") }
        try HDF5Library.check(
            H5Dwrite(id, T.hdf5Type, shim_h5s_all(), shim_h5s_all(), shim_h5p_default(), values.baseAddress),
            "writing \(path)")
    }

    /// Writes `values` into the hyperslab `offset ..< offset + count`.
    public func write<T: HDF5Element>(_ values: UnsafeBufferPointer<T>, offset: [Int], count: [Int]) throws {
        guard values.count == count.reduce(1, *) else { throw TrainerError("\(path): slab size mismatch") }
        if values.isEmpty { return }
        let (fileSpace, memorySpace) = try selection(offset: offset, count: count)
        try HDF5Library.check(
            H5Dwrite(id, T.hdf5Type, memorySpace.id, fileSpace.id, shim_h5p_default(), values.baseAddress),
            "writing \(path)")
    }

    /// Grows (or shrinks) an extendable dataset to `shape`.
    public func extend(to shape: [Int]) throws {
        var dims = shape.map { hsize_t($0) }
        try HDF5Library.check(H5Dset_extent(id, &dims), "extending \(path)")
    }

    /// Appends `values` to a one-dimensional extendable dataset.
    public func append<T: HDF5Element>(_ values: UnsafeBufferPointer<T>) throws {
        let length = try count
        try extend(to: [length + values.count])
        try write(values, offset: [length], count: [values.count])
    }

    /// Reads a one-dimensional dataset of strings (variable or fixed length).
    public func readStrings() throws -> [String] {
        let type = HDF5Handle(H5Dget_type(id), closer: H5Tclose)
        let space = try space()
        let total = try count
        if total == 0 { return [] }
        return try readStringData(fileType: type.id, space: space.id, count: total, what: path) {
            H5Dread(id, $0, shim_h5s_all(), shim_h5s_all(), shim_h5p_default(), $1)
        }
    }
}
