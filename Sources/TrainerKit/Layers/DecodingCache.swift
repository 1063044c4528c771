/// What incremental decoding keeps between steps (a key/value cache): for every causal
/// self-attention sublayer of a stack, the keys and values of each position decoded so far, for
/// each row. With it a new token costs one row through every layer plus attention over the cached
/// positions, O(T), instead of a forward pass over the whole prefix, O(T²).
///
/// Rows decode in lockstep: after `length` steps every row holds positions `0 ..< length`. Beam
/// search moves hypotheses between rows; `reorder` makes row r continue from row `parents[r]`.
public final class DecodingCache {
    /// Rows decoded together, and the most positions each can hold.
    public let rows: Int, capacity: Int
    let channels: Int
    /// Per block: keys and values, (rows, capacity, C), heads side by side as in the projections.
    private(set) var keys: [FloatBuffer], values: [FloatBuffer]
    /// Positions held by every row.
    public internal(set) var length = 0

    /// A cache for `layers` blocks of width `channels`.
    public init(layers: Int, rows: Int, capacity: Int, channels: Int) {
        self.rows = rows
        self.capacity = capacity
        self.channels = channels
        keys = (0 ..< layers).map { _ in FloatBuffer(count: rows * capacity * channels) }
        values = (0 ..< layers).map { _ in FloatBuffer(count: rows * capacity * channels) }
    }

    /// Forgets every position.
    public func reset() { length = 0 }

    /// Where position `position` of row `row` is kept in a layer's keys or values.
    @inline(__always)
    func offset(row: Int, position: Int) -> Int { (row * capacity + position) * channels }

    /// Row r continues from what row `parents[r]` held (a row may be the parent of several); rows
    /// from `parents.count` on are left as they are.
    public func reorder(parents: [Int]) {
        let rows = parents.count
        precondition(rows <= self.rows && parents.allSatisfy { (0 ..< rows).contains($0) }, "reorder: bad parents")
        guard parents != Array(0 ..< rows), length > 0 else { return }
        let span = length * channels
        for buffers in [keys, values] {
            for buffer in buffers {
                let copy = alignedAllocate(Float.self, count: rows * span)
                defer { copy.deallocate() }
                for r in 0 ..< rows { (copy + r * span).update(from: buffer.pointer + offset(row: r, position: 0), count: span) }
                for (r, parent) in parents.enumerated() {
                    (buffer.pointer + offset(row: r, position: 0)).update(from: copy + parent * span, count: span)
                }
            }
        }
    }
}
