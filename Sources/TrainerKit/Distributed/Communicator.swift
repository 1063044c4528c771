import CMPI
import Foundation

/// A thin, safe wrapper over an MPI communicator: rank, size, collectives on typed buffers, abort.
///
/// `Communicator.world` initialises MPI on first use (a singleton world of one when the program was
/// not started by `mpirun`) and finalises it at exit. MPI errors are returned, not fatal, and become
/// `TrainerError`s naming the call and the rank. Only the main thread calls MPI (`MPI_THREAD_FUNNELED`).
public final class Communicator: @unchecked Sendable {
    let comm: MPI_Comm
    /// This process's rank in the communicator.
    public let rank: Int
    /// The number of processes in the communicator.
    public let size: Int

    /// The world communicator (initialises MPI once).
    public static let world: Communicator = {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            let status = MPI_Init_thread(nil, nil, shim_thread_funneled(), &provided)
            if status != shim_success() {
                FileHandle.standardError.write(Data("error: MPI_Init_thread failed (\(status))\n".utf8))
                exit(1)
            }
            atexit {
                var finalized: Int32 = 0
                MPI_Finalized(&finalized)
                if finalized == 0 { MPI_Finalize() }
            }
        }
        MPI_Comm_set_errhandler(shim_comm_world(), shim_errors_return())
        return Communicator(shim_comm_world())
    }()

    /// The MPI library's description of itself, in one line (`MPI_Get_library_version`, which
    /// needs no running MPI).
    static var libraryVersion: String {
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING) + 1)
        var length: Int32 = 0
        guard MPI_Get_library_version(&text, &length) == shim_success() else { return "unknown" }
        let bytes = text.prefix(min(Int(length), text.count)).prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "; ")
    }

    init(_ comm: MPI_Comm) {
        self.comm = comm
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(comm, &rank)
        MPI_Comm_size(comm, &size)
        self.rank = Int(rank)
        self.size = Int(size)
    }

    /// Whether this is rank 0 (the one that prints and writes files).
    public var isRoot: Bool { rank == 0 }

    /// Number of ranks of this communicator on this machine (shared-memory node).
    public func localSize() throws -> Int {
        var local: MPI_Comm?
        try check(MPI_Comm_split_type(comm, shim_comm_type_shared(), Int32(rank), shim_info_null(), &local), "MPI_Comm_split_type")
        var size: Int32 = 1
        MPI_Comm_size(local, &size)
        MPI_Comm_free(&local)
        return Int(size)
    }

    func check(_ status: Int32, _ call: String) throws {
        guard status != shim_success() else { return }
        var buffer = [CChar](repeating: 0, count: Int(shim_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(status, &buffer, &length)
        let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        throw TrainerError("\(call) failed on rank \(rank): \(message)")
    }

    /// Largest element count per MPI call (MPI counts are 32-bit).
    static let maximumCount = 1 << 30

    /// Runs `body(offset, count)` over `count` elements in pieces MPI can take.
    private func inPieces(_ count: Int, _ body: (Int, Int32) throws -> Void) rethrows {
        var offset = 0
        while offset < count {
            let piece = min(Communicator.maximumCount, count - offset)
            try body(offset, Int32(piece))
            offset += piece
        }
    }

    /// While set (training), blocking collectives wait at most `watchdog.timeout` seconds: they
    /// are started non-blocking and polled, and on the deadline the watchdog finds out which rank
    /// is late and stops the job.
    public weak var watchdog: Watchdog?

    /// Waits for `request`: `MPI_Wait`, or polling under the watchdog's deadline.
    func complete(_ request: inout MPI_Request?, _ call: String) throws {
        guard let watchdog else {
            try check(MPI_Wait(&request, shim_status_ignore()), "MPI_Wait")
            return
        }
        let pause = Watchdog.Pause(timeout: watchdog.timeout)
        while true {
            var flag: Int32 = 0
            try check(MPI_Test(&request, &flag, shim_status_ignore()), "MPI_Test")
            if flag != 0 { return }
            if pause.next() { watchdog.stalled(in: call) }
        }
    }

    private func allreduce<T>(_ buffer: UnsafeMutableBufferPointer<T>, _ type: MPI_Datatype, _ op: MPI_Op, _ call: String) throws {
        guard size > 1, let base = buffer.baseAddress else { return }
        try inPieces(buffer.count) { offset, count in
            if watchdog == nil {
                try check(MPI_Allreduce(shim_in_place(), base + offset, count, type, op, comm), call)
            } else {
                var request: MPI_Request?
                try check(MPI_Iallreduce(shim_in_place(), base + offset, count, type, op, comm, &request), call)
                try complete(&request, call)
            }
        }
    }

    /// In-place sum over all ranks.
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allreduce(buffer, shim_float(), shim_sum(), "MPI_Allreduce(float, sum)")
    }

    /// In-place sum over all ranks (exact and order-independent for integers).
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {
        try allreduce(buffer, shim_int64(), shim_sum(), "MPI_Allreduce(int64, sum)")
    }

    /// In-place sum over all ranks.
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allreduce(buffer, shim_double(), shim_sum(), "MPI_Allreduce(double, sum)")
    }

    /// In-place maximum over all ranks.
    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allreduce(buffer, shim_double(), shim_max(), "MPI_Allreduce(double, max)")
    }

    /// In-place maximum over all ranks.
    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {
        try allreduce(buffer, shim_int64(), shim_max(), "MPI_Allreduce(int64, max)")
    }

    /// Sum of one value over all ranks.
    public func sum(_ value: Double) throws -> Double {
        var copy = [value]
        try copy.withUnsafeMutableBufferPointer { try allreduceSum($0) }
        return copy[0]
    }

    /// Sum of one integer over all ranks.
    public func sum(_ value: Int) throws -> Int {
        var copy = [Int64(value)]
        try copy.withUnsafeMutableBufferPointer { try allreduceSum($0) }
        return Int(copy[0])
    }

    /// Maximum of one value over all ranks.
    public func max(_ value: Double) throws -> Double {
        var copy = [value]
        try copy.withUnsafeMutableBufferPointer { try allreduceMax($0) }
        return copy[0]
    }

    /// A started non-blocking all-reduce; `wait()` completes it.
    public final class Request: @unchecked Sendable {
        var requests: [MPI_Request?]
        let communicator: Communicator
        init(_ requests: [MPI_Request?], _ communicator: Communicator) {
            self.requests = requests
            self.communicator = communicator
        }

        /// Blocks until the operation is done.
        public func wait() throws {
            for i in requests.indices where requests[i] != nil {
                try communicator.complete(&requests[i], "a non-blocking all-reduce")
                requests[i] = nil
            }
        }

        /// Lets MPI make progress; returns whether the operation is done.
        public func test() throws -> Bool {
            var done = true
            for i in requests.indices where requests[i] != nil {
                var flag: Int32 = 0
                try communicator.check(MPI_Test(&requests[i], &flag, shim_status_ignore()), "MPI_Test")
                if flag != 0 { requests[i] = nil } else { done = false }
            }
            return done
        }
    }

    /// Starts sending one Int64 to `rank` (`MPI_Isend`); `value` must stay put until done.
    public func startSend(_ value: UnsafeMutablePointer<Int64>, to rank: Int, tag: Int32) throws -> Request {
        var request: MPI_Request?
        try check(MPI_Isend(value, 1, shim_int64(), Int32(rank), tag, comm, &request), "MPI_Isend")
        return Request([request], self)
    }

    /// Starts receiving one Int64 from `rank` (`MPI_Irecv`) into `value`.
    public func startReceive(_ value: UnsafeMutablePointer<Int64>, from rank: Int, tag: Int32) throws -> Request {
        var request: MPI_Request?
        try check(MPI_Irecv(value, 1, shim_int64(), Int32(rank), tag, comm, &request), "MPI_Irecv")
        return Request([request], self)
    }

    /// Starts an in-place, non-blocking integer sum (`MPI_Iallreduce`). The buffer must stay
    /// untouched until `wait()` returns.
    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws -> Request {
        try startAllreduce(buffer, shim_int64(), "MPI_Iallreduce(int64, sum)")
    }

    /// Starts an in-place, non-blocking float sum.
    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> Request {
        try startAllreduce(buffer, shim_float(), "MPI_Iallreduce(float, sum)")
    }

    private func startAllreduce<T>(_ buffer: UnsafeMutableBufferPointer<T>, _ type: MPI_Datatype, _ call: String) throws -> Request {
        var requests: [MPI_Request?] = []
        if size > 1, let base = buffer.baseAddress {
            try inPieces(buffer.count) { offset, count in
                var request: MPI_Request?
                try check(MPI_Iallreduce(shim_in_place(), base + offset, count, type, shim_sum(), comm, &request), call)
                requests.append(request)
            }
        }
        return Request(requests, self)
    }

    /// Copies `buffer` from `root` to every rank.
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int = 0) throws {
        guard size > 1, let base = buffer.baseAddress else { return }
        try inPieces(buffer.count) { offset, count in
            if watchdog == nil {
                try check(MPI_Bcast(base + offset, count, shim_byte(), Int32(root), comm), "MPI_Bcast")
            } else {
                var request: MPI_Request?
                try check(MPI_Ibcast(base + offset, count, shim_byte(), Int32(root), comm, &request), "MPI_Ibcast")
                try complete(&request, "MPI_Bcast")
            }
        }
    }

    /// Copies a float buffer from `root` to every rank.
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int = 0) throws {
        try broadcast(UnsafeMutableRawBufferPointer(buffer), root: root)
    }

    /// `root`'s string, on every rank.
    public func broadcast(_ string: String, root: Int = 0) throws -> String {
        guard size > 1 else { return string }
        var length = [Int64(string.utf8.count)]
        try length.withUnsafeMutableBytes { try broadcast($0, root: root) }
        var bytes = [UInt8](repeating: 0, count: Int(length[0]))
        if rank == root { bytes = Array(string.utf8) }
        try bytes.withUnsafeMutableBytes { try broadcast($0, root: root) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Every rank's `value`, indexed by rank.
    public func allgather(_ value: UInt64) throws -> [UInt64] {
        var mine = value
        var all = [UInt64](repeating: 0, count: size)
        try all.withUnsafeMutableBufferPointer { buffer in
            try check(MPI_Allgather(&mine, 1, shim_uint64(), buffer.baseAddress, 1, shim_uint64(), comm), "MPI_Allgather")
        }
        return all
    }

    /// Every rank's `bytes`, in rank order, on `root` (`MPI_Gatherv`); the other ranks get [].
    /// - Throws: when the total exceeds what one MPI call can count (2 GiB).
    public func gather(_ bytes: [UInt8], root: Int = 0) throws -> [[UInt8]] {
        guard size > 1 else { return [bytes] }
        let counts = try allgather(UInt64(bytes.count)).map(Int.init)
        let total = counts.reduce(0, +)
        guard total < Int(Int32.max) else {
            throw TrainerError("gather: \(total) bytes over \(size) ranks is more than one MPI call takes (2 GiB)")
        }
        var offsets = [Int32](repeating: 0, count: size)
        for r in 1 ..< size { offsets[r] = offsets[r - 1] + Int32(counts[r - 1]) }
        let counts32 = counts.map { Int32($0) }
        var received = [UInt8](repeating: 0, count: rank == root ? Swift.max(total, 1) : 1)
        var request: MPI_Request?
        try bytes.withUnsafeBufferPointer { send in
            try received.withUnsafeMutableBufferPointer { receive in
                try check(MPI_Igatherv(send.baseAddress, Int32(bytes.count), shim_byte(), receive.baseAddress, counts32, offsets,
                                       shim_byte(), Int32(root), comm, &request), "MPI_Igatherv")
                try complete(&request, "MPI_Gatherv")
            }
        }
        guard rank == root else { return [] }
        return (0 ..< size).map { r in Array(received[Int(offsets[r]) ..< Int(offsets[r]) + counts[r]]) }
    }

    /// Waits until every rank arrives.
    public func barrier() throws {
        if watchdog == nil {
            try check(MPI_Barrier(comm), "MPI_Barrier")
        } else {
            var request: MPI_Request?
            try check(MPI_Ibarrier(comm, &request), "MPI_Ibarrier")
            try complete(&request, "MPI_Barrier")
        }
    }

    /// Prints `message` to standard error prefixed with the rank, then ends every process of the
    /// job (`MPI_Abort`): one failing rank never leaves the others hanging.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        let prefix = size > 1 ? "error (rank \(rank) of \(size)): " : "error: "
        FileHandle.standardError.write(Data((prefix + message + "\n").utf8))
        if size > 1 { MPI_Abort(comm, code) }
        exit(code)
    }
}
