import Foundation

/// This rank's clock against rank 0's, measured by ping-pong (NTP's method): rank `r` notes its
/// time `t1`, sends a message to rank 0, which answers with its own time `t2`; the answer arrives at
/// `t3`. Rank 0's clock then read `t2` at some instant between `t1` and `t3`, so
/// `offset = t2 - (t1 + t3) / 2` is wrong by at most half the round trip `(t3 - t1) / 2`. Of several
/// exchanges the one with the shortest round trip is kept.
///
/// Ranks on one machine share a clock (the offset comes out within the bound of 0); ranks on other
/// machines do not, and their clocks also drift apart slowly, so a trace measures the offset when
/// its window opens and when it closes and interpolates between the two (`TraceFile.Clock`).
public struct ClockOffset: Sendable, Equatable {
    /// What to add to this rank's clock to read rank 0's, in nanoseconds (0 on rank 0).
    public var offset: Int64
    /// The bound on `offset`'s error: half the best round trip, in nanoseconds (0 on rank 0).
    public var error: UInt64
    /// This rank's clock at the middle of the exchange kept (where `offset` holds).
    public var measuredAt: UInt64

    public init(offset: Int64, error: UInt64, measuredAt: UInt64) {
        self.offset = offset
        self.error = error
        self.measuredAt = measuredAt
    }

    /// Tags of the ping and the answer (the watchdog's check-ins use 1000 and above).
    static let pingTag: Int32 = 900, answerTag: Int32 = 901

    /// Measures every rank's offset to rank 0 (collective: every rank calls it; rank 0 answers the
    /// others in turn, `rounds` exchanges each). `now` is the clock measured, in nanoseconds: by
    /// default `DispatchTime`'s monotonic clock, the one `Timeline` stamps its events with.
    public static func measure(communicator: Communicator, rounds: Int = 8,
                               now: () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }) throws -> ClockOffset {
        let W = communicator.size
        guard W > 1 else { return ClockOffset(offset: 0, error: 0, measuredAt: now()) }
        let message = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        defer { message.deallocate() }
        if communicator.rank == 0 {
            for rank in 1 ..< W {
                for _ in 0 ..< rounds {
                    try communicator.startReceive(message, from: rank, tag: pingTag).wait()
                    message.pointee = Int64(bitPattern: now())
                    try communicator.startSend(message, to: rank, tag: answerTag).wait()
                }
            }
            return ClockOffset(offset: 0, error: 0, measuredAt: now())
        }
        var best = ClockOffset(offset: 0, error: .max, measuredAt: 0)
        for _ in 0 ..< rounds {
            message.pointee = 0
            let t1 = now()
            try communicator.startSend(message, to: 0, tag: pingTag).wait()
            try communicator.startReceive(message, from: 0, tag: answerTag).wait()
            let t3 = now()
            let middle = t1 + (t3 - t1) / 2
            let error = (t3 - t1 + 1) / 2
            if error < best.error {
                best = ClockOffset(offset: Int64(bitPattern: UInt64(bitPattern: message.pointee) &- middle), error: error,
                                   measuredAt: middle)
            }
        }
        return best
    }
}
