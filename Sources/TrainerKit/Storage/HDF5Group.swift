import CHDF5
import Foundation

/// A group: a folder of datasets and groups. Paths may contain '/' (relative to this group).
public class HDF5Group: HDF5Object, @unchecked Sendable {
    /// A link-creation property list that creates missing intermediate groups.
    private func intermediateGroups() throws -> HDF5Handle {
        let lcpl = HDF5Handle(try check(H5Pcreate(shim_h5p_link_create()), "H5Pcreate"), closer: H5Pclose)
        try check(H5Pset_create_intermediate_group(lcpl.id, 1), "H5Pset_create_intermediate_group")
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

    /// Removes the link `name` (the object goes when nothing else refers to it).
    public func remove(_ name: String) throws {
        try check(H5Ldelete(id, name, shim_h5p_default()), "removing \(childPath(name))")
    }

    /// Creates a group (and any missing parents).
    @discardableResult
    public func createGroup(_ name: String) throws -> HDF5Group {
        let lcpl = try intermediateGroups()
        let group = try check(
            H5Gcreate2(id, name, lcpl.id, shim_h5p_default(), shim_h5p_default()), "creating group \(childPath(name))")
        return HDF5Group(handle: HDF5Handle(group, closer: H5Gclose, file: fileHandle), path: childPath(name))
    }

    /// Opens an existing group.
    public func group(_ name: String) throws -> HDF5Group {
        guard exists(name) else { throw TrainerError("\(childPath(name)): no such group") }
        let group = try check(H5Gopen2(id, name, shim_h5p_default()), "opening group \(childPath(name))")
        return HDF5Group(handle: HDF5Handle(group, closer: H5Gclose, file: fileHandle), path: childPath(name))
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
            _ = try check(
                H5Literate(id, H5_INDEX_NAME, H5_ITER_INC, &index, visit, Unmanaged.passUnretained(names).toOpaque()),
                "listing \(path)")
        }
        return try names.values.map { name in
            let object = try check(H5Oopen(id, name, shim_h5p_default()), "opening \(childPath(name))")
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
            try check(H5Screate_simple(Int32(dims.count), &dims, &maxDims), "dataspace for \(childPath(name))"),
            closer: H5Sclose)
        let dcpl = HDF5Handle(try check(H5Pcreate(shim_h5p_dataset_create()), "H5Pcreate"), closer: H5Pclose)
        if let chunk {
            var chunkDims = chunk.map { hsize_t(max(1, $0)) }
            try check(H5Pset_chunk(dcpl.id, Int32(chunkDims.count), &chunkDims), "chunking \(childPath(name))")
            if let deflate {
                try check(H5Pset_shuffle(dcpl.id), "shuffle filter for \(childPath(name))")
                try check(H5Pset_deflate(dcpl.id, UInt32(deflate)), "deflate filter for \(childPath(name))")
            }
        }
        let lcpl = try intermediateGroups()
        let dataset = try check(
            H5Dcreate2(id, name, type, space.id, lcpl.id, dcpl.id, shim_h5p_default()),
            "creating dataset \(childPath(name))")
        return HDF5Dataset(handle: HDF5Handle(dataset, closer: H5Dclose, file: fileHandle), path: childPath(name))
    }

    /// Opens an existing dataset. `chunkCacheBytes` sets the size of its chunk cache (HDF5's
    /// default is 1 MiB), so that many small reads of a compressed dataset decompress each chunk once.
    public func dataset(_ name: String, chunkCacheBytes: Int? = nil) throws -> HDF5Dataset {
        guard exists(name) else { throw TrainerError("\(childPath(name)): no such dataset") }
        var dapl = shim_h5p_default()
        var accessList: HDF5Handle?
        if let chunkCacheBytes {
            let list = HDF5Handle(try check(H5Pcreate(shim_h5p_dataset_access()), "H5Pcreate"), closer: H5Pclose)
            try check(H5Pset_chunk_cache(list.id, 10_007, chunkCacheBytes, 1.0), "H5Pset_chunk_cache")
            dapl = list.id
            accessList = list
        }
        let dataset = try check(H5Dopen2(id, name, dapl), "opening dataset \(childPath(name))")
        withExtendedLifetime(accessList) {}
        return HDF5Dataset(handle: HDF5Handle(dataset, closer: H5Dclose, file: fileHandle), path: childPath(name))
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
        try check(
            H5Dwrite(dataset.id, type.id, shim_h5s_all(), shim_h5s_all(), shim_h5p_default(), &pointers),
            "writing \(dataset.path)")
        return dataset
    }

    /// Reads a whole dataset as an array of `T`.
    public func read<T: HDF5Element & Numeric>(_ name: String, as type: T.Type = T.self) throws -> [T] {
        try dataset(name).read(as: T.self)
    }
}
