import Foundation

extension Store {
    /// Starts a snapshot: a private directory the caller fills with model files, then commits or discards.
    /// `parent` must be an existing snapshot (nil for a lineage root). A draft left behind by a crash is removed
    /// by the next recovery.
    public func beginSnapshot(parent: String?) throws -> SnapshotDraft {
        let lease = try requireWritable("beginSnapshot")
        if let parent { _ = try snapshot(parent) }
        let id = StoreID.make(.snapshot)
        let directory = layout.draft(id, token: lease.token)
        try Durable.makeDirectory(directory)
        return SnapshotDraft(id: id, parent: parent, directory: directory)
    }

    /// Publishes `draft` as `snapshots/<id>/`: writes `metadata.json`, fsyncs every file and directory in the draft,
    /// renames it into place and fsyncs `snapshots/`. The snapshot is immutable from then on. It is neither
    /// promoted nor listed as a candidate: do that with `promote(_:)` or `addCandidate(_:)`.
    @discardableResult
    public func commit(_ draft: SnapshotDraft, _ details: SnapshotDetails) throws -> SnapshotMetadata {
        let lease = try requireWritable("commit")
        guard draft.directory.path == layout.draft(draft.id, token: lease.token).path else {
            throw StoreError.invalidArgument("snapshot draft \(draft.id) was not begun by this store")
        }
        guard Durable.exists(draft.directory) else {
            throw StoreError.io(path: draft.directory.path, reason: "the draft directory is gone (discarded or already committed)")
        }
        let metadata = SnapshotMetadata(id: draft.id, parent: draft.parent, details: details, createdAt: StoreJSON.now())
        let metadataURL = draft.directory.appendingPathComponent("metadata.json")
        if Durable.exists(metadataURL) {
            throw StoreError.invalidArgument("snapshot draft \(draft.id) already has a metadata.json; the store writes it")
        }
        try Durable.createFile(StoreJSON.encode(metadata), at: metadataURL)
        try Durable.syncTree(draft.directory)
        reach(.snapshotSynced)
        try Durable.rename(draft.directory, to: layout.snapshot(draft.id))
        try Durable.syncDirectory(layout.snapshots)
        reach(.snapshotRenamed)
        snapshotCache.withLock { $0[draft.id] = metadata }
        logger.info("committed snapshot \(draft.id) (parent \(draft.parent ?? "none"), \(details.kind.rawValue))")
        return metadata
    }

    /// Throws the draft away.
    public func discard(_ draft: SnapshotDraft) throws {
        let lease = try requireWritable("discard")
        guard draft.directory.path == layout.draft(draft.id, token: lease.token).path else {
            throw StoreError.invalidArgument("snapshot draft \(draft.id) was not begun by this store")
        }
        try Durable.removeTree(draft.directory)
    }

    /// Every committed snapshot, oldest first. Unreadable ones are logged and left out.
    public func snapshots() throws -> [SnapshotMetadata] {
        try Durable.names(in: layout.snapshots).filter { !$0.hasPrefix(".") && StoreID.isValid($0) }.sorted().compactMap { id in
            do { return try snapshot(id) } catch {
                logger.warning("skipping snapshot \(id): \(error)")
                return nil
            }
        }
    }

    /// The snapshot `id`; `.unknownSnapshot` when there is none.
    public func snapshot(_ id: String) throws -> SnapshotMetadata {
        guard StoreID.isValid(id) else { throw StoreError.unknownSnapshot(id) }
        if let cached = snapshotCache.withLock({ $0[id] }) { return cached }
        let url = layout.snapshot(id).appendingPathComponent("metadata.json")
        guard let metadata = try StoreJSON.load(SnapshotMetadata.self, from: url) else { throw StoreError.unknownSnapshot(id) }
        guard metadata.id == id else { throw StoreError.corrupt(path: url.path, reason: "names snapshot \(metadata.id)") }
        snapshotCache.withLock { $0[id] = metadata }
        return metadata
    }

    /// Removes snapshot `id` for good: not the base (every snapshot loads its weights), not the active one and
    /// not the one a rollback would return to. It leaves the candidates and the rollback history. The directory
    /// is first renamed to a draft name, which recovery removes should the process die before it is gone.
    public func deleteSnapshot(_ id: String) throws {
        let lease = try requireWritable("deleteSnapshot")
        let metadata = try snapshot(id)
        guard metadata.kind != .base else { throw StoreError.inUse("snapshot \(id) is the base model every other snapshot is built on") }
        try withWriterLock {
            var registry = try Self.readRegistry(directory: layout.root)
            guard registry.active != id else { throw StoreError.inUse("snapshot \(id) is active; promote another one first") }
            guard registry.previousActive != id else {
                throw StoreError.inUse("snapshot \(id) is the one a rollback returns to; promote another snapshot first")
            }
            guard registry.canary?.candidate != id else {
                throw StoreError.inUse("snapshot \(id) is serving as a canary (here and on the replicas); complete or roll it back first")
            }
            if registry.candidates.contains(id) || registry.history.contains(id) || registry.labels[id] != nil {
                registry.candidates.removeAll { $0 == id }
                registry.history.removeAll { $0 == id }
                registry.labels[id] = nil
                registry.generation += 1
                registry.updatedAt = StoreJSON.now()
                try Durable.replace(StoreJSON.encode(registry), at: layout.registry)
            }
            let doomed = layout.draft(id, token: lease.token)
            try Durable.rename(layout.snapshot(id), to: doomed)
            try Durable.syncDirectory(layout.snapshots)
            snapshotCache.withLock { $0[id] = nil }
            snapshotSizes.withLock { $0[id] = nil }
            try Durable.removeTree(doomed)
        }
        logger.info("deleted snapshot \(id)")
    }

    /// Deletes the oldest tuned snapshots beyond the newest `keep`, sparing the active one, the rollback target
    /// and every labelled one; returns the ids deleted.
    @discardableResult
    public func pruneSnapshots(keep: Int) throws -> [String] {
        let registry = try registry()
        let spared = Set([registry.active, registry.previousActive, registry.canary?.candidate].compactMap { $0 }).union(registry.labels.keys)
        let tuned = try snapshots().filter { $0.kind != .base }
        let doomed = tuned.dropLast(max(0, keep)).filter { !spared.contains($0.id) }
        for snapshot in doomed { try deleteSnapshot(snapshot.id) }
        return doomed.map(\.id)
    }

    /// Bytes on disk of snapshot `id`'s own files (the base's weights are counted once, in the base snapshot);
    /// measured on first ask, since a committed snapshot does not change.
    public func snapshotBytes(_ id: String) throws -> Int {
        if let known = snapshotSizes.withLock({ $0[id] }) { return known }
        let directory = try snapshotDirectory(id)
        var total = 0
        if let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.fileSizeKey]) {
            for case let file as URL in files { total += (try? file.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0 }
        }
        snapshotSizes.withLock { $0[id] = total }
        return total
    }

    /// The directory of snapshot `id` (to load the model from).
    public func snapshotDirectory(_ id: String) throws -> URL {
        _ = try snapshot(id)
        return layout.snapshot(id)
    }
}
