import ArgumentParser
import Foundation
import TrainerKit

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Summarise a checkpoint or a dataset.")

    @Argument(help: "An HDF5 file written by the trainer.")
    var file: String

    func run() throws {
        try guarded { print(try TrainerKit.Inspect.describe(path: file)) }
    }
}
