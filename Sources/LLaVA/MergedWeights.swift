import Foundation
import Synchronization

/// Merged task decoders, made on first use and shared by every snapshot of a process under one byte budget:
/// the least recently used go first, so memory does not grow with the number of tasks and snapshots.
///
/// A task's decoder is the base decoder with each adapted projection replaced by `W + ΔW`; only those
/// projections are new memory (embeddings and the rest stay shared with the base). Merging is a few
/// matrix products, cheap next to a query on the models we serve; a variant larger than the whole budget is
/// not cached and the snapshot answers that task with unmerged adapters instead (same answers, slower).
public final class MergedWeights: Sendable {
    /// The process's cache; `mneme serve --merged-cache-mb` sets its budget.
    public static let shared = MergedWeights(budgetBytes: 256 << 20)

    private struct Key: Hashable { var owner: UInt64; var task: Int }
    private struct Entry { var model: LlavaModel; var bytes: Int; var lastUse: UInt64 }
    private struct State {
        var budgetBytes: Int
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
        var merges = 0
        var evictions = 0
    }

    private let state: Mutex<State>

    public init(budgetBytes: Int) { state = Mutex(State(budgetBytes: budgetBytes)) }

    public var budgetBytes: Int {
        get { state.withLock { $0.budgetBytes } }
        set { state.withLock { $0.budgetBytes = newValue; Self.evict(&$0, keeping: nil) } }
    }

    /// Bytes held now, variants held, merges made and variants evicted since the start.
    public var usage: (bytes: Int, variants: Int, merges: Int, evictions: Int) {
        state.withLock { ($0.bytes, $0.entries.count, $0.merges, $0.evictions) }
    }

    /// The cached model of (`owner`, `task`), or the one `make` builds (with its new bytes), cached when it fits.
    func model(owner: UInt64, task: Int, make: () -> (model: LlavaModel, bytes: Int)) -> LlavaModel {
        let key = Key(owner: owner, task: task)
        if let hit = state.withLock({ state -> LlavaModel? in
            guard state.entries[key] != nil else { return nil }
            state.clock += 1
            state.entries[key]!.lastUse = state.clock
            return state.entries[key]!.model
        }) { return hit }
        // Merged outside the lock: two first queries of one task may both merge; one result is kept.
        let made = make()
        state.withLock { state in
            state.merges += 1
            guard made.bytes <= state.budgetBytes, state.entries[key] == nil else { return }
            state.clock += 1
            state.entries[key] = Entry(model: made.model, bytes: made.bytes, lastUse: state.clock)
            state.bytes += made.bytes
            Self.evict(&state, keeping: key)
        }
        return made.model
    }

    /// Forgets every variant of `owner` (a snapshot that is gone).
    func remove(owner: UInt64) {
        state.withLock { state in
            for key in state.entries.keys where key.owner == owner {
                state.bytes -= state.entries.removeValue(forKey: key)!.bytes
            }
        }
    }

    private static func evict(_ state: inout State, keeping kept: Key?) {
        while state.bytes > state.budgetBytes,
              let victim = state.entries.filter({ $0.key != kept }).min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
            state.bytes -= state.entries.removeValue(forKey: victim)!.bytes
            state.evictions += 1
        }
    }
}

/// Loaded base models by directory, so the snapshots of one data directory share one copy of the base
/// weights (the engine's). Only for serving: training that changes the base weights in place loads its own.
public final class BaseModels: Sendable {
    private let loaded = Mutex<[String: LlavaPipeline]>([:])

    public init() {}

    public func pipeline(at directory: URL) throws -> LlavaPipeline {
        let key = directory.standardizedFileURL.resolvingSymlinksInPath().path
        if let hit = loaded.withLock({ $0[key] }) { return hit }
        let pipeline = try LlavaPipeline.load(from: directory)
        return loaded.withLock { loaded in
            if let raced = loaded[key] { return raced }
            loaded[key] = pipeline
            return pipeline
        }
    }
}
