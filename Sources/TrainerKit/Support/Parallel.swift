import Dispatch
import Foundation
import Synchronization

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
    /// concurrently when there is more than one: piece 0 on the caller, piece i on worker i of a
    /// persistent pool. `piece` doubles as a scratch-slot index.
    @inline(__always)
    public func forEachPiece(count: Int, _ body: (_ piece: Int, _ range: Range<Int>) -> Void) {
        let pieces = min(threads, count)
        if pieces <= 1 {
            if count > 0 { body(0, 0 ..< count) }
            return
        }
        WorkerPool.shared.run(pieces: pieces) { piece in
            body(piece, Parallelism.range(of: piece, pieces: pieces, count: count))
        }
    }
}

/// A fork-join pool of persistent threads. `run` hands piece i to worker i (never to whichever
/// thread happens to be free, so two pieces always run on two threads) and returns when all are
/// done. Idle workers sleep on a semaphore: they do not spin and steal cores from other processes.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    private final class Worker: @unchecked Sendable {
        let wake = DispatchSemaphore(value: 0)
        var thread: Thread?
    }

    private let lock = NSLock()
    private var workers: [Worker] = []  // worker i − 1 runs piece i
    private var job: ((Int) -> Void)?
    private let remaining = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)

    /// Runs `body(0..<pieces)` with piece 0 on the calling thread.
    func run(pieces: Int, _ body: (Int) -> Void) {
        // Nested or concurrent use (a kernel called from inside a piece): run serially.
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for piece in 0 ..< pieces { body(piece) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        ensureWorkers(pieces - 1)
        withoutActuallyEscaping(body) { body in
            job = body
            remaining.store(pieces - 1, ordering: .releasing)
            for worker in workers.prefix(pieces - 1) { worker.wake.signal() }
            body(0)
            // The caller has nothing else to do: spin briefly, then yield.
            var spins = 0
            while remaining.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins > 2_000 { sched_yield() }
            }
            job = nil
        }
    }

    private func ensureWorkers(_ count: Int) {
        lock.lock()
        defer { lock.unlock() }
        while workers.count < count {
            let worker = Worker()
            let piece = workers.count + 1
            let thread = Thread { [unowned self] in
                while true {
                    worker.wake.wait()
                    self.job!(piece)
                    self.remaining.subtract(1, ordering: .releasing)
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
            worker.thread = thread
            workers.append(worker)
        }
    }
}
