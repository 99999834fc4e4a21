import Foundation
import LLaVA
import Logging
import Synchronization

/// The snapshots in memory by id (a bounded cache) and which one is active, swapped atomically.
///
/// A request takes the snapshot reference once and keeps it to the end, so promoting or rolling back never
/// fails or stalls a request in flight: the old snapshot stays alive until its last request lets go.
final class LoadedSnapshots: Sendable {
    private struct State {
        var activeId: String?
        var loaded: [String: Snapshot] = [:]
        /// Least recently used last; the active snapshot is never evicted.
        var recency: [String] = []
    }

    private let state = Mutex(State())
    private let loadLock = Mutex(())
    private let switchLock = Mutex(())
    private let capacity: Int
    /// One copy of the base weights for every snapshot.
    private let bases = BaseModels()
    private let locate: @Sendable (String) throws -> URL
    private let logger: Logger

    /// `locate` maps a snapshot id to its directory (throwing the not-found error callers should see).
    init(capacity: Int = 4, logger: Logger, locate: @escaping @Sendable (String) throws -> URL) {
        self.capacity = capacity
        self.logger = logger
        self.locate = locate
    }

    var activeId: String? { state.withLock { $0.activeId } }
    var isReady: Bool { state.withLock { state in state.activeId.map { state.loaded[$0] != nil } ?? false } }

    /// The snapshot with `id`, loading it on first use.
    func snapshot(_ id: String) throws -> Snapshot {
        if let cached = touch(id) { return cached }
        let directory = try locate(id)
        // One load at a time: two requests for a cold snapshot must not load it twice.
        return try loadLock.withLock { _ in
            if let cached = touch(id) { return cached }
            let start = ContinuousClock.now
            let loaded = try Snapshot.load(from: directory, bases: bases, serving: true)
            let adapterBytes = loaded.adapters?.servedBytes ?? 0
            let updates = adapterBytes > 0 ? ", its task updates \(adapterBytes >> 20) MB" : ""
            logger.info("loaded snapshot \(id) in \(start.duration(to: .now).milliseconds) ms\(updates)")
            state.withLock { state in
                state.loaded[id] = loaded
                state.recency.removeAll { $0 == id }
                state.recency.append(id)
                while state.loaded.count > capacity, let victim = state.recency.first(where: { $0 != state.activeId }) {
                    state.loaded[victim] = nil
                    state.recency.removeAll { $0 == victim }
                }
            }
            return loaded
        }
    }

    private func touch(_ id: String) -> Snapshot? {
        state.withLock { state in
            guard let snapshot = state.loaded[id] else { return nil }
            state.recency.removeAll { $0 == id }
            state.recency.append(id)
            return snapshot
        }
    }

    /// Drops a loaded snapshot that was deleted (never the active one); requests holding it finish with it.
    func forget(_ id: String) {
        state.withLock { state in
            guard state.activeId != id else { return }
            state.loaded[id] = nil
            state.recency.removeAll { $0 == id }
        }
    }

    /// The active snapshot (the one a request without `snapshot` gets).
    func active() throws -> (id: String, snapshot: Snapshot) {
        guard let id = activeId else { throw ServerError.notReady("no snapshot is active yet") }
        return (id, try snapshot(id))
    }

    /// Loads `id`, runs `record` (the registry write), and only if that succeeds makes `id` active, in one
    /// step: requests never see a half-loaded model, and a failed write leaves the old snapshot serving.
    /// Switches run one at a time, so two at once cannot leave the loaded snapshots on one snapshot and the registry
    /// on the other.
    @discardableResult
    func activate<Recorded: Sendable>(_ id: String, record: () throws -> Recorded) throws -> Recorded {
        try switchLock.withLock { _ in
            let loaded = try snapshot(id)
            let recorded = try record()
            state.withLock { state in
                state.activeId = id
                // Kept even if a burst of other snapshots evicted it between the load and now.
                if state.loaded[id] == nil { state.loaded[id] = loaded }
                state.recency.removeAll { $0 == id }
                state.recency.append(id)
            }
            logger.info("active snapshot is now \(id)")
            return recorded
        }
    }

    /// Makes `id` active with nothing to record (start-up, where the registry already names it).
    func activate(_ id: String) throws {
        try activate(id) { () }
    }
}
