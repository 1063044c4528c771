/// The one error type of the trainer: a single line saying what was found, where, and what to do.
///
/// Every failure a user can cause (a bad file, a bad config value, an HDF5 or MPI failure) becomes a
/// `TrainerError` whose `description` is printed as is by the command-line front end.
public struct TrainerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The one-line message shown to the user.
    public var message: String

    /// Creates an error with a ready message.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
