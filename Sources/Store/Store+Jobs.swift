import Foundation

/// Job changes. Each one is a read-validate-write of `jobs/<id>.json` under the writer lock, so concurrent
/// writers (threads, instances, processes) never lose each other's updates.
///
/// An illegal transition throws `.invalidTransition` rather than trapping: with several writers a job can
/// legitimately change under a caller (failed by an operator, finished by a peer), and a server must survive that.
extension Store {
    /// Every job, oldest first. Unreadable job files are logged and left out.
    public func jobs() throws -> [JobRecord] {
        try jobIds().compactMap { id in
            do { return try job(id) } catch {
                logger.warning("skipping job \(id): \(error)")
                return nil
            }
        }
    }

    /// The job `id`; `.unknownJob` when there is none.
    public func job(_ id: String) throws -> JobRecord {
        guard StoreID.isValid(id), let record = try StoreJSON.load(JobRecord.self, from: layout.job(id)) else {
            throw StoreError.unknownJob(id)
        }
        return record
    }

    /// Queued, running and evaluating jobs in creation order: what the server (re-)queues at start-up. After a
    /// writable open, jobs of crashed writers are already back in `queued`; `running`/`evaluating` ones listed
    /// here belong to a live writer.
    func unfinishedJobs() throws -> [JobRecord] {
        try jobs().filter { $0.state.isUnfinished }
    }

    /// Atomically takes the oldest queued job and marks it running for this store; nil when none is queued.
    /// Two tuners calling this concurrently never get the same job.
    public func claimNextJob() throws -> JobRecord? {
        let lease = try requireWritable("claimNextJob")
        return try withWriterLock {
            for id in try jobIds() {
                guard let record = try? StoreJSON.load(JobRecord.self, from: layout.job(id)), record.state == .queued else { continue }
                return try write(start(record, owner: lease.token))
            }
            return nil
        }
    }

    /// queued → running, owned by this store.
    @discardableResult
    public func startJob(_ id: String) throws -> JobRecord {
        let lease = try requireWritable("startJob")
        return try updateJob(id, operation: "startJob") { record in
            try check(record, to: .running)
            record = start(record, owner: lease.token)
        }
    }

    /// Records training progress of a running or evaluating job. Each call is an atomic, fsynced replace; for
    /// per-step reporting wrap the job in a `JobProgressReporter`, which limits the rate.
    @discardableResult
    public func updateProgress(_ id: String, _ progress: JobProgress) throws -> JobRecord {
        let record = try updateJob(id, operation: "updateProgress") { record in
            guard record.state == .running || record.state == .evaluating else {
                throw StoreError.invalidTransition(job: id, from: record.state, to: .running)
            }
            record.progress = progress
        }
        reach(.progressWritten)
        return record
    }

    /// running → evaluating.
    @discardableResult
    public func beginEvaluation(_ id: String) throws -> JobRecord {
        try updateJob(id, operation: "beginEvaluation") { record in
            try check(record, to: .evaluating)
            record.state = .evaluating
        }
    }

    /// evaluating → done, with the snapshot the job committed and whether it was promoted.
    @discardableResult
    public func finishJob(_ id: String, snapshot: String, promoted: Bool, outcome: JobOutcome? = nil) throws -> JobRecord {
        _ = try self.snapshot(snapshot)
        return try updateJob(id, operation: "finishJob") { record in
            try check(record, to: .done)
            record.state = .done
            record.snapshot = snapshot
            record.promoted = promoted
            record.outcome = outcome
            record.finishedAt = StoreJSON.now()
            record.owner = nil
        }
    }

    /// queued, running or evaluating → failed, with a reason for the client.
    @discardableResult
    public func failJob(_ id: String, reason: String) throws -> JobRecord {
        try updateJob(id, operation: "failJob") { record in
            try check(record, to: .failed)
            record.state = .failed
            record.error = reason
            record.finishedAt = StoreJSON.now()
            record.owner = nil
        }
    }

    /// running or evaluating → queued: the attempt is abandoned and will start over (e.g. a tuner shutting down).
    /// The caller discards its snapshot draft.
    @discardableResult
    public func requeueJob(_ id: String) throws -> JobRecord {
        try updateJob(id, operation: "requeueJob") { record in
            try check(record, to: .queued)
            record = Self.requeued(record)
        }
    }

    /// Raises or lowers job `id`'s work mark. The mark is up while the job does its own work (preparing,
    /// training, evaluating) and down while it waits (for queries, between jobs): a process that dies with the
    /// mark up died during the job's work — out of memory, a crash in training — and recovery counts that
    /// attempt against the job; one that dies with it down (an operator's restart, a query's crash) does not.
    /// A plain file without fsync: it has to outlive the process, not the machine.
    public func markWorking(_ id: String, _ working: Bool) {
        guard lease != nil, StoreID.isValid(id) else { return }
        let path = layout.workMark(id).path
        if working {
            let descriptor = open(path, O_CREAT | O_WRONLY, 0o644)
            if descriptor >= 0 { close(descriptor) }
        } else {
            unlink(path)
        }
    }

    // MARK: Helpers

    static func requeued(_ record: JobRecord) -> JobRecord {
        var record = record
        record.state = .queued
        record.progress = nil
        record.owner = nil
        return record
    }

    private func start(_ record: JobRecord, owner: String) -> JobRecord {
        var record = record
        record.state = .running
        record.attempts += 1
        record.startedAt = StoreJSON.now()
        record.progress = nil
        record.owner = owner
        return record
    }

    private func check(_ record: JobRecord, to next: JobState) throws {
        guard record.state.canMove(to: next) else {
            throw StoreError.invalidTransition(job: record.id, from: record.state, to: next)
        }
    }

    /// Read, change and write job `id` under the writer lock.
    private func updateJob(_ id: String, operation: String, _ change: (inout JobRecord) throws -> Void) throws -> JobRecord {
        _ = try requireWritable(operation)
        guard StoreID.isValid(id) else { throw StoreError.unknownJob(id) }
        return try withWriterLock {
            guard var record = try StoreJSON.load(JobRecord.self, from: layout.job(id)) else { throw StoreError.unknownJob(id) }
            try change(&record)
            return try write(record)
        }
    }

    @discardableResult
    func write(_ record: JobRecord) throws -> JobRecord {
        var record = record
        record.updatedAt = StoreJSON.now()
        try Durable.replace(StoreJSON.encode(record), at: layout.job(record.id))
        return record
    }

    /// Job ids sorted, i.e. in creation order.
    func jobIds() throws -> [String] {
        try Durable.names(in: layout.jobs).compactMap { name -> String? in
            guard !name.hasPrefix("."), name.hasSuffix(".json") else { return nil }
            let id = String(name.dropLast(5))
            return StoreID.isValid(id) ? id : nil
        }.sorted()
    }
}
