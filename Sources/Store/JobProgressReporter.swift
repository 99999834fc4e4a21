import Foundation
import Synchronization

/// Rate-limited progress reporting for one job: the tuner can call `report` every optimiser step while the job
/// file is rewritten (an fsynced atomic replace) at most once per `minimumInterval`. The latest progress is
/// never dropped for good: it is kept and written by the next due `report` or by `flush()`.
public final class JobProgressReporter: Sendable {
    public let jobId: String
    public let minimumInterval: Duration
    private let store: Store
    private struct State {
        var lastWrite: ContinuousClock.Instant?
        var pending: JobProgress?
    }
    private let state = Mutex(State())

    public init(store: Store, jobId: String, minimumInterval: Duration = .milliseconds(250)) {
        self.store = store
        self.jobId = jobId
        self.minimumInterval = minimumInterval
    }

    /// Writes `progress` now if the interval has passed (or it is the last step), otherwise keeps it pending.
    /// Returns whether it was written.
    @discardableResult
    public func report(_ progress: JobProgress) throws -> Bool {
        try state.withLock { state in
            let now = ContinuousClock.now
            let due = state.lastWrite.map { now - $0 >= minimumInterval } ?? true
            guard due || progress.step >= progress.total else {
                state.pending = progress
                return false
            }
            try store.updateProgress(jobId, progress)
            state.lastWrite = now
            state.pending = nil
            return true
        }
    }

    /// Writes the pending progress, if any (call before moving the job on).
    public func flush() throws {
        try state.withLock { state in
            guard let pending = state.pending else { return }
            try store.updateProgress(jobId, pending)
            state.lastWrite = ContinuousClock.now
            state.pending = nil
        }
    }
}
