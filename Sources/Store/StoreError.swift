import Foundation

/// Everything that can go wrong in the data directory. The HTTP layer maps `unknown*` to 404,
/// `invalidTransition`, `nothingToRollBack` and `invalidArgument` to 409/400, `readOnly` to 405/503, the rest to 500.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownTask(String)
    case unknownJob(String)
    case unknownSnapshot(String)
    /// A job was asked to move along an edge the state machine does not have (see `JobState.canMove(to:)`).
    case invalidTransition(job: String, from: JobState, to: JobState)
    /// Rollback asked for with no previously active snapshot recorded.
    case nothingToRollBack
    /// Something asked to be removed is still needed (the active snapshot, the rollback target, the base).
    case inUse(String)
    /// A caller-supplied value the store cannot accept (empty task, fraction out of range, …).
    case invalidArgument(String)
    /// A write was attempted on a store opened with `.readOnly`.
    case readOnly(operation: String, directory: String)
    /// A file exists but does not hold what it should.
    case corrupt(path: String, reason: String)
    /// The operating system refused a read, write, rename, sync or lock.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .unknownTask(let id): "no task with id '\(id)'"
        case .unknownJob(let id): "no job with id '\(id)'"
        case .unknownSnapshot(let id): "no snapshot with id '\(id)'"
        case .invalidTransition(let job, let from, let to): "job \(job) cannot go from \(from.rawValue) to \(to.rawValue)"
        case .nothingToRollBack: "there is no previously active snapshot to roll back to"
        case .inUse(let message): message
        case .invalidArgument(let message): message
        case .readOnly(let operation, let directory):
            "the store at \(directory) is open read-only; \(operation) needs a writable store"
        case .corrupt(let path, let reason): "\(path) is corrupt: \(reason)"
        case .io(let path, let reason): "\(path): \(reason)"
        }
    }

    /// `.io` with the text of the current `errno`.
    static func errno(_ path: String, _ action: String) -> StoreError {
        .io(path: path, reason: "\(action) failed: \(String(cString: strerror(Foundation.errno)))")
    }
}
