import CSignals
import Foundation

/// SIGTERM and SIGINT (a scheduler's preemption, Ctrl-C) stop training cleanly: the first signal is
/// only recorded; at the next step boundary the ranks agree to stop (the largest signal number over
/// ranks, so a signal that reached one rank stops all), rank 0 writes the checkpoint, and the job
/// exits with 128 + signal (143 for SIGTERM, 130 for SIGINT). A second signal ends the process at
/// once. The handler is C (`Sources/CSignals`): it only stores a number, which is async-signal-safe.
public enum StopSignal {
    /// Installs the handlers (train only; the other commands keep the default, immediate exit).
    public static func install() { trainer_stop_signals_install() }

    /// The first signal received by this process, or nil.
    public static var received: Int32? {
        let signal = trainer_stop_signal()
        return signal == 0 ? nil : signal
    }

    /// "SIGTERM", "SIGINT" or "signal N".
    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        default: return "signal \(signal)"
        }
    }
}
