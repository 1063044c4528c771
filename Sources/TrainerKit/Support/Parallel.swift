import Dispatch

/// How many threads a kernel may use, and the deterministic way work is split between them.
///
/// Work is always cut into the same contiguous pieces for a given thread count, and every output
/// element is written by exactly one piece, so results never depend on thread scheduling.
/// BLAS runs single-threaded inside each piece (see `BLAS.configureForKernels`).
public struct Parallelism: Sendable, Equatable {
    /// Number of worker threads (≥ 1).
    public let threads: Int

    /// A parallelism of `threads` workers (clamped to at least one).
    public init(threads: Int) {
        self.threads = max(1, threads)
    }

    /// One thread: everything runs on the caller.
    public static let serial = Parallelism(threads: 1)

    /// The contiguous range of `0..<count` that piece `piece` of `pieces` covers.
    @inline(__always)
    public static func range(of piece: Int, pieces: Int, count: Int) -> Range<Int> {
        let base = count / pieces, extra = count % pieces
        let start = piece * base + min(piece, extra)
        return start ..< start + base + (piece < extra ? 1 : 0)
    }

    /// Calls `body(piece, range)` for `min(threads, count)` contiguous pieces of `0..<count`,
    /// concurrently when there is more than one. `piece` doubles as a scratch-slot index.
    @inline(__always)
    public func forEachPiece(count: Int, _ body: (_ piece: Int, _ range: Range<Int>) -> Void) {
        let pieces = min(threads, count)
        if pieces <= 1 {
            if count > 0 { body(0, 0 ..< count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: pieces) { piece in
                box.value(piece, Parallelism.range(of: piece, pieces: pieces, count: count))
            }
        }
    }
}

/// Wraps a value that is safe to share across the worker threads of one kernel call because the
/// threads write disjoint parts of it; used only inside `Parallelism`.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
