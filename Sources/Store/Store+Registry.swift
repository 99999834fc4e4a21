import Foundation

/// Registry changes: read-modify-write of `registry.json` under the writer lock, replaced atomically, `generation`
/// bumped on every change so watchers can tell.
extension Store {
    /// The current registry (no lock; the file is only ever replaced whole).
    public func registry() throws -> Registry { try Self.readRegistry(directory: layout.root) }

    /// Makes `id` the active snapshot. The previously active one goes onto the rollback history; `id` leaves the
    /// candidates. Promoting the active snapshot changes nothing.
    @discardableResult
    public func promote(_ id: String) throws -> Registry {
        _ = try requireWritable("promote")
        _ = try snapshot(id)
        return try changeRegistry { registry in
            guard registry.active != id else { return false }
            if let active = registry.active { registry.history.append(active) }
            if registry.history.count > Registry.historyLimit { registry.history.removeFirst(registry.history.count - Registry.historyLimit) }
            registry.active = id
            registry.candidates.removeAll { $0 == id }
            return true
        }
    }

    /// Makes the previously active snapshot active again; the one rolled back from becomes a candidate.
    /// `.nothingToRollBack` when there is no history.
    @discardableResult
    public func rollback() throws -> Registry {
        _ = try requireWritable("rollback")
        return try changeRegistry { registry in
            guard let previous = registry.history.popLast() else { throw StoreError.nothingToRollBack }
            if let active = registry.active, !registry.candidates.contains(active) { registry.candidates.append(active) }
            registry.candidates.removeAll { $0 == previous }
            registry.active = previous
            return true
        }
    }

    /// Lists `id` as a candidate (a committed snapshot kept for inspection, not serving). No change if it is
    /// already a candidate or active.
    @discardableResult
    public func addCandidate(_ id: String) throws -> Registry {
        _ = try requireWritable("addCandidate")
        _ = try snapshot(id)
        return try changeRegistry { registry in
            guard registry.active != id, !registry.candidates.contains(id) else { return false }
            registry.candidates.append(id)
            return true
        }
    }

    /// Sets (or, with nil or an empty text, removes) the operator's label of snapshot `id`.
    @discardableResult
    public func label(_ id: String, _ text: String?) throws -> Registry {
        _ = try requireWritable("label")
        _ = try snapshot(id)
        let text = text?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (text?.count ?? 0) <= 200 else { throw StoreError.invalidArgument("a label has at most 200 characters") }
        return try changeRegistry { registry in
            let new = text?.isEmpty == false ? text : nil
            guard registry.labels[id] != new else { return false }
            registry.labels[id] = new
            return true
        }
    }

    /// Records the canary in progress (nil: none), for replicas to follow.
    @discardableResult
    public func setCanary(_ canary: Registry.Canary?) throws -> Registry {
        _ = try requireWritable("setCanary")
        return try changeRegistry { registry in
            guard registry.canary != canary else { return false }
            registry.canary = canary
            return true
        }
    }

    /// `change` returns whether it changed anything; only then is the file rewritten.
    private func changeRegistry(_ change: (inout Registry) throws -> Bool) throws -> Registry {
        try withWriterLock {
            var registry = try Self.readRegistry(directory: layout.root)
            guard try change(&registry) else { return registry }
            registry.generation += 1
            registry.updatedAt = StoreJSON.now()
            try Durable.replace(StoreJSON.encode(registry), at: layout.registry)
            return registry
        }
    }
}
