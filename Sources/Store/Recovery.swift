import Foundation
import Logging

/// What a recovery pass changed.
public struct RecoveryReport: Sendable, Equatable {
    /// Leftovers of crashed writers that were removed, relative to the data directory.
    public var removedTemporaries: [String] = []
    /// Jobs recreated (as queued) for tasks whose job file was missing.
    public var recreatedJobs: [String] = []
    /// Jobs whose writer died while running or evaluating them, now queued again.
    public var requeuedJobs: [String] = []

    public var isEmpty: Bool { removedTemporaries.isEmpty && recreatedJobs.isEmpty && requeuedJobs.isEmpty }
}

/// Brings a data directory back to a consistent state after crashes. Runs under the writer lock, so no live
/// writer is between steps of a publish (rename + job file, atomic replaces) while it looks; temporaries that
/// live writers are still filling are recognised by their lease and left alone.
struct Recovery {
    let layout: StoreLayout
    let lease: WriterLease
    let logger: Logger

    func run() throws -> RecoveryReport {
        var report = RecoveryReport()
        var alive: [String: Bool] = [lease.token: true]
        func isAlive(_ token: String) -> Bool {
            if let known = alive[token] { return known }
            let answer = WriterLease.isAlive(token, in: layout.leases)
            alive[token] = answer
            return answer
        }

        // Temporaries: task and feedback directories and snapshot drafts of dead writers; AtomicFile leftovers (those are
        // only ever written under the writer lock we hold, so any we see are abandoned).
        for (directory, prefix) in [(layout.tasks, StoreLayout.temporaryTaskPrefix), (layout.snapshots, StoreLayout.draftPrefix),
                                  (layout.feedbackRoot, StoreLayout.temporaryTaskPrefix)] {
            for name in try Durable.names(in: directory) where name.hasPrefix(".") {
                guard let owner = StoreLayout.owner(ofTemporary: name, prefix: prefix) else {
                    if isAtomicFileLeftover(name) { try remove(directory.appendingPathComponent(name), &report) }
                    continue
                }
                if !isAlive(owner) { try remove(directory.appendingPathComponent(name), &report) }
            }
        }
        for directory in [layout.root, layout.jobs] {
            for name in try Durable.names(in: directory) where isAtomicFileLeftover(name) {
                try remove(directory.appendingPathComponent(name), &report)
            }
        }

        // Tasks whose job file a crash lost between the task's rename and the job write.
        for id in try Durable.names(in: layout.tasks).sorted() where !id.hasPrefix(".") && StoreID.isValid(id) {
            let manifest = layout.task(id).appendingPathComponent("manifest.json")
            let task: TaskRecord
            do {
                guard let loaded = try StoreJSON.load(TaskRecord.self, from: manifest) else {
                    logger.error("task directory \(id) has no manifest; leaving it for an operator")
                    continue
                }
                task = loaded
            } catch {
                logger.error("cannot read \(manifest.path): \(error); leaving it for an operator")
                continue
            }
            guard StoreID.isValid(task.jobId), !Durable.exists(layout.job(task.jobId)) else { continue }
            let job = JobRecord(id: task.jobId, taskId: task.id, strategy: task.strategy, createdAt: task.createdAt)
            try Durable.replace(StoreJSON.encode(job), at: layout.job(job.id))
            report.recreatedJobs.append(job.id)
            logger.notice("recreated job \(job.id) for task \(task.id) (its job file was lost in a crash)")
        }

        // Jobs whose writer died mid-attempt start over.
        for name in try Durable.names(in: layout.jobs).sorted() where !name.hasPrefix(".") && name.hasSuffix(".json") {
            let url = layout.jobs.appendingPathComponent(name)
            let job: JobRecord
            do {
                guard let loaded = try StoreJSON.load(JobRecord.self, from: url) else { continue }
                job = loaded
            } catch {
                logger.error("cannot read \(url.path): \(error); leaving it for an operator")
                continue
            }
            if job.state == .done || job.state == .failed {
                // A task deletion that died between removing the task and its job: the job goes too.
                if !Durable.exists(layout.task(job.taskId)) {
                    unlink(url.path)
                    unlink(layout.workMark(job.id).path)
                    report.removedTemporaries.append("jobs/\(name)")
                    logger.notice("removed job \(job.id): its task \(job.taskId) was deleted")
                }
                continue
            }
            guard job.state == .running || job.state == .evaluating, !(job.owner.map(isAlive) ?? false) else { continue }
            var requeued = Store.requeued(job)
            requeued.updatedAt = StoreJSON.now()
            // Only a death during the job's own work counts as one of its attempts (`Store.markWorking`).
            let diedWorking = Durable.exists(layout.workMark(job.id))
            if !diedWorking { requeued.attempts = max(0, requeued.attempts - 1) }
            try Durable.replace(StoreJSON.encode(requeued), at: url)
            unlink(layout.workMark(job.id).path)
            report.requeuedJobs.append(job.id)
            let counted = diedWorking ? "during its own work (attempt \(job.attempts) counts)" : "while it waited (the attempt does not count)"
            logger.notice("re-queued job \(job.id): its writer stopped while it was \(job.state.rawValue), \(counted)")
        }

        // Lease files of dead writers.
        for token in try Durable.names(in: layout.leases) where !isAlive(token) {
            unlink(layout.leases.appendingPathComponent(token).path)
        }
        return report
    }

    /// `AtomicFile`'s temporary names: `.<name>.tmp-<pid>-<random>`.
    private func isAtomicFileLeftover(_ name: String) -> Bool { name.hasPrefix(".") && name.contains(".tmp-") }

    private func remove(_ url: URL, _ report: inout RecoveryReport) throws {
        try Durable.removeTree(url)
        let relative = String(url.path.dropFirst(layout.root.path.count + 1))
        report.removedTemporaries.append(relative)
        logger.notice("removed \(relative), left by a writer that stopped")
    }
}
