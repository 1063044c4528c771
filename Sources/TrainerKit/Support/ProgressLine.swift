import Foundation

/// Progress of long work on one line of standard error, redrawn in place at most four times a
/// second, with the rate and, when the total is known, the share done and the time left:
///
///     translate  45%  900/2000 sentences  61.2 sentences/s  ETA 0:18
///
/// Only on a terminal: when standard error is a file or a pipe (logs, CI) it stays quiet, and the
/// command's own summary line is all that is written. `end()` clears the line.
public final class ProgressLine: @unchecked Sendable {
    /// What is counted, in the plural (`merges`, `MB`), and the amount per displayed unit.
    let unit: String, divisor: Double
    private var label = "", total: Double?, done = 0.0, started = 0.0, lastDraw = 0.0, drawn = false
    private let write: ((String) -> Void)?
    private let clock: () -> Double

    /// `write` nil: silent (the default when standard error is not a terminal).
    public init(unit: String, divisor: Double = 1, write: ((String) -> Void)? = ProgressLine.terminalWriter,
                clock: @escaping () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }) {
        self.unit = unit
        self.divisor = divisor
        self.write = write
        self.clock = clock
    }

    /// Writes to standard error if it is a terminal; nil otherwise.
    public static var terminalWriter: ((String) -> Void)? {
        isatty(2) != 0 ? { FileHandle.standardError.write(Data($0.utf8)) } : nil
    }

    /// Starts counting `label`, out of `total` (nil: unknown, no percentage or ETA).
    public func begin(_ label: String, total: Double?) {
        self.label = label
        self.total = total
        done = 0
        started = clock()
        lastDraw = started  // work shorter than a quarter of a second draws nothing
    }

    /// A new (estimated) total.
    public func update(total: Double?) { self.total = total }

    /// Counts `amount` more (in the counted amount, before `divisor`).
    public func advance(_ amount: Double = 1) {
        done += amount
        guard write != nil else { return }
        let now = clock()
        if now - lastDraw >= 0.25 {
            lastDraw = now
            draw(now)
        }
    }

    /// Clears the line (the command then prints its summary).
    public func end() {
        guard let write, drawn else { return }
        write("\r\u{1B}[K")
        drawn = false
    }

    private func draw(_ now: Double) {
        guard let write else { return }
        write("\r" + ProgressLine.describe(label: label, done: done / divisor, total: total.map { $0 / divisor }, unit: unit,
                                           seconds: now - started) + "\u{1B}[K")
        drawn = true
    }

    /// The text of the line: label, share done, count, rate and time left (when known).
    public static func describe(label: String, done: Double, total: Double?, unit: String, seconds: Double) -> String {
        let rate = seconds > 0 ? done / seconds : 0
        func number(_ x: Double) -> String { x >= 100 || x == x.rounded() ? String(format: "%.0f", x) : String(format: "%.1f", x) }
        var line = label
        if let total, total > 0 {
            line += String(format: " %3d%%  ", Int(min(100, 100 * done / total))) + number(done) + "/" + number(total) + " " + unit
        } else {
            line += "  " + number(done) + " " + unit
        }
        line += "  " + number(rate) + " " + unit + "/s"
        if let total, total > 0, rate > 0 {
            let left = Int(((total - done) / rate).rounded(.up))
            line += left >= 3600 ? String(format: "  ETA %d:%02d:%02d", left / 3600, left / 60 % 60, left % 60)
                                 : String(format: "  ETA %d:%02d", left / 60, left % 60)
        }
        return line
    }
}
