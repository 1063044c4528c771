import Foundation

/// Training history kept in checkpoints (`/metrics`): one series per name, each a list of
/// (step, value) points, e.g. "train_loss", "val_loss".
public struct MetricsHistory: Sendable, Equatable {
    public var series: [String: [(step: Int, value: Double)]] = [:]

    public init() {}

    public mutating func record(_ name: String, step: Int, value: Double) {
        series[name, default: []].append((step, value))
    }

    /// The last value of a series.
    public func last(_ name: String) -> (step: Int, value: Double)? { series[name]?.last }

    public static func == (lhs: MetricsHistory, rhs: MetricsHistory) -> Bool {
        lhs.series.keys.sorted() == rhs.series.keys.sorted()
            && lhs.series.allSatisfy { name, points in
                let other = rhs.series[name] ?? []
                return points.count == other.count && zip(points, other).allSatisfy { $0.step == $1.step && $0.value == $1.value }
            }
    }

    func write(to group: HDF5Group) throws {
        for (name, points) in series.sorted(by: { $0.key < $1.key }) {
            try group.write("\(name)/step", points.map { Int64($0.step) })
            try group.write("\(name)/value", points.map { $0.value })
        }
    }

    init(from group: HDF5Group) throws {
        for (name, kind) in try group.children() where kind == .group {
            let steps = try group.read("\(name)/step", as: Int64.self), values = try group.read("\(name)/value", as: Double.self)
            series[name] = zip(steps, values).map { (Int($0), $1) }
        }
    }
}
