import CHDF5
import Foundation

/// A dataset: a typed n-dimensional array in a file.
public final class HDF5Dataset: HDF5Object, @unchecked Sendable {
    private func space() throws -> HDF5Handle {
        HDF5Handle(try check(H5Dget_space(id), "dataspace of \(path)"), closer: H5Sclose)
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

    /// Throws unless the stored type is an integer type (token ids, offsets): HDF5 would silently
    /// convert floats, truncating them.
    public func requireIntegers(in file: String) throws {
        let type = HDF5Handle(H5Dget_type(id), closer: H5Tclose)
        guard H5Tget_class(type.id) == H5T_INTEGER else {
            throw TrainerError("\(file): \(path) holds \(elementDescription) values; it must hold integers")
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
        try check(
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
        try check(
            H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &start, nil, &extent, nil), "selecting in \(path)")
        let memorySpace = HDF5Handle(
            try check(H5Screate_simple(Int32(extent.count), &extent, nil), "H5Screate_simple"),
            closer: H5Sclose)
        return (fileSpace, memorySpace)
    }

    /// Reads the hyperslab `offset ..< offset + count` (per dimension) into `buffer`, row-major.
    public func read<T: HDF5Element>(into buffer: UnsafeMutableBufferPointer<T>, offset: [Int], count: [Int]) throws {
        let total = count.reduce(1, *)
        guard buffer.count == total else { throw TrainerError("\(path): slab of \(total) into \(buffer.count)") }
        if total == 0 { return }
        let (fileSpace, memorySpace) = try selection(offset: offset, count: count)
        try check(
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
        try check(
            H5Dwrite(id, T.hdf5Type, shim_h5s_all(), shim_h5s_all(), shim_h5p_default(), values.baseAddress),
            "writing \(path)")
    }

    /// Writes `values` into the hyperslab `offset ..< offset + count`.
    public func write<T: HDF5Element>(_ values: UnsafeBufferPointer<T>, offset: [Int], count: [Int]) throws {
        guard values.count == count.reduce(1, *) else { throw TrainerError("\(path): slab size mismatch") }
        if values.isEmpty { return }
        let (fileSpace, memorySpace) = try selection(offset: offset, count: count)
        try check(
            H5Dwrite(id, T.hdf5Type, memorySpace.id, fileSpace.id, shim_h5p_default(), values.baseAddress),
            "writing \(path)")
    }

    /// Grows (or shrinks) an extendable dataset to `shape`.
    public func extend(to shape: [Int]) throws {
        var dims = shape.map { hsize_t($0) }
        try check(H5Dset_extent(id, &dims), "extending \(path)")
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
