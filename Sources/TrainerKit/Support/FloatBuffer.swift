import Foundation

/// A contiguous, 64-byte-aligned, owned block of `Float`s: the storage under every tensor.
///
/// Kernels take `UnsafeMutablePointer<Float>` views of these (llm.c style); the buffer owns the
/// memory and frees it when the last reference goes away.
public final class FloatBuffer: @unchecked Sendable {
    /// Number of elements.
    public let count: Int
    /// Start of the storage; valid for `count` elements while `self` is alive.
    public let pointer: UnsafeMutablePointer<Float>

    /// Allocates `count` floats, zero-filled.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer: negative count \(count)")
        self.count = count
        self.pointer = alignedAllocate(Float.self, count: count)
        pointer.initialize(repeating: 0, count: count)
    }

    /// Allocates a buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { free(pointer) }

    /// Element access (no bounds check in release builds; for tests and set-up code).
    public subscript(index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }

    /// Read-only view for kernels.
    public var readPointer: UnsafePointer<Float> { UnsafePointer(pointer) }

    /// A buffer view of the whole storage.
    public var bufferPointer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }

    /// Sets every element to zero.
    public func zero() {
        pointer.update(repeating: 0, count: count)
    }

    /// Copies the contents into an array (tests, checkpoints).
    public func array() -> [Float] {
        Array(UnsafeBufferPointer(start: pointer, count: count))
    }

    /// Copies `source` in; the counts must match.
    public func copy(from source: FloatBuffer) {
        precondition(source.count == count, "FloatBuffer.copy: \(source.count) != \(count)")
        pointer.update(from: source.pointer, count: count)
    }
}

/// Allocates uninitialised, 64-byte-aligned storage for `count` values (at least one byte).
func alignedAllocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
    var raw: UnsafeMutableRawPointer?
    let bytes = max(1, count * MemoryLayout<T>.stride)
    let status = posix_memalign(&raw, 64, bytes)
    guard status == 0, let raw else {
        fatalError("out of memory allocating \(bytes) bytes")
    }
    return raw.bindMemory(to: T.self, capacity: max(count, 1))
}
