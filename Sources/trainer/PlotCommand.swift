import ArgumentParser
import Foundation
import TrainerKit

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chart the metrics.jsonl of one or more runs (overlaid) as one self-contained HTML page or SVG.",
        discussion: """
            Loss against steps and tokens (every step faint, a smoothed line, validation points), evaluation \
            loss, learning rate, tokens/s, gradient norm, and BLEU/chrF/CER/WER for translation runs. \
            An --output ending in .svg gets one SVG image instead of an HTML page.
            """)

    @Argument(help: "Run directories (each holds metrics.jsonl, and config.yaml for the captions).")
    var runDirectories: [String] = []

    @Option(help: "Output file: .html (default) or .svg.")
    var output = "report.html"

    @Option(help: "Smoothing weight of the moving average, 0 ..< 1 (0: off).")
    var smoothing = 0.9

    @Option(help: "The report's title.")
    var title = "Training runs"

    func validate() throws {
        guard !runDirectories.isEmpty else { throw ValidationError("give at least one run directory, e.g. trainer plot runs/default") }
        guard smoothing.isFinite && smoothing >= 0 && smoothing < 1 else {
            throw ValidationError("--smoothing \(smoothing) must be in 0 ..< 1 (0: off, 0.9: the default, 0.99: heavy)")
        }
    }

    func run() throws {
        try guarded {
            print(try PlotReport.write(runDirectories: runDirectories, output: output, smoothing: smoothing, title: title))
        }
    }
}
