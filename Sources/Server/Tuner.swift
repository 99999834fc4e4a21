import Continual
import Foundation
import Imaging
import LLaVA
import Logging
import Store
import Synchronization

/// How pushed tasks are tuned.
public struct TunerSettings: Sendable {
    /// Strategy for pushes that name none.
    public var defaultStrategy = "branchlora"
    /// How a task is learned, measured and gated (`TaskLearning`, shared with the benchmarks).
    public var learning = TaskLearning.Settings()
    /// A job started this many times without finishing (the process died each time) fails instead of looping.
    public var maxAttempts = 3
    /// Tuned snapshots kept on disk (0: all): after each new one the oldest beyond this are deleted, sparing the
    /// active one, the rollback target and labelled ones.
    public var keepSnapshots = 0
    /// The share of the cores the tuner keeps while queries wait too (`CPUTurns`): a saturating load slows
    /// tuning to this share instead of starving it. A little over a quarter, because request parsing on the
    /// HTTP threads runs beside the tuner's turns: at 0.25 a 400-item task under 16 clients took 4.5× its idle
    /// time, at 0.3 3.5× (docs/OPERATIONS.md §12).
    public var minimumShare = 0.35
    /// A snapshot tuned on a task made from feedback enters as a canary with this share of the traffic instead of
    /// being promoted at once (0: promoted at once).
    public var feedbackCanaryShare = 0.2
    /// How far ahead of its share the tuner works before it hands the cores to waiting queries: at 30 ms query
    /// p99 doubled under tuning, at 5 ms it grew by a third.
    public var turn: Duration = .milliseconds(5)

    public init() {}
}

/// The background worker: one job at a time, oldest first — train with the job's strategy on top of the active
/// snapshot, evaluate on the new task and every earlier one, write the snapshot, promote it if it passes the
/// regression gate. Serving goes on meanwhile; the tuner yields the CPU to queued queries between steps.
final class Tuner: @unchecked Sendable {
    private let store: Store
    private let loaded: LoadedSnapshots
    /// The tuner's turns on the cores with the query batches.
    private let turns: CPUTurns
    private let settings: TunerSettings
    private let metrics: ServerMetrics
    private let logger: Logger
    /// The store id of the base snapshot that tuned snapshots build on.
    private let baseSnapshotId: String
    /// Starts a canary of a snapshot against its parent (set by the server; `ServerContext.startCanary`).
    var startCanary: (@Sendable (String, Double, String) throws -> Void)? {
        get { canaryStarter.withLock { $0 } }
        set { canaryStarter.withLock { $0 = newValue } }
    }
    private let canaryStarter = Mutex<(@Sendable (String, Double, String) throws -> Void)?>(nil)
    private let condition = NSCondition()
    private var stopped = false
    private var wakeups = 0
    private var thread: Thread?

    init(store: Store, loaded: LoadedSnapshots, turns: CPUTurns, baseSnapshotId: String, settings: TunerSettings, metrics: ServerMetrics,
         logger: Logger) {
        self.turns = turns
        self.store = store
        self.loaded = loaded
        self.baseSnapshotId = baseSnapshotId
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
    }

    func start() {
        let thread = Thread { [weak self] in self?.run() }
        thread.name = "mneme-tuner"
        thread.qualityOfService = .utility
        self.thread = thread
        thread.start()
    }

    /// A job was queued.
    func wake() {
        condition.lock()
        wakeups += 1
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private var isStopped: Bool { condition.lock(); defer { condition.unlock() }; return stopped }

    /// What a cancelled job's record says.
    static let cancelledReason = "cancelled by the operator"
    /// Jobs asked to stop (`DELETE /v1/jobs/{id}`).
    private let cancelled = Mutex<Set<String>>([])

    /// Asks the running job `id` to stop at its next step or check.
    func cancel(_ id: String) { cancelled.withLock { _ = $0.insert(id) } }

    private func isCancelled(_ id: String) -> Bool { cancelled.withLock { $0.contains(id) } }

    /// The job being worked on, whose work mark a wait lowers.
    private let currentJob = Mutex<String?>(nil)

    /// The tuner's pause point (between layers, steps and evaluated items): returns when it is the tuner's turn
    /// on the cores (`CPUTurns`). While it waits the job's work mark is down: a crash then is not the job's
    /// (`Store.markWorking`).
    func pause() {
        let job = currentJob.withLock { $0 }
        turns.pause { [store] waiting in
            if let job { store.markWorking(job, !waiting) }
        }
    }

    private func run() {
        // Between layers of every training step too, so a query waits for one layer at most.
        TrainingYield.install { [weak self] in self?.pause() }
        defer { TrainingYield.install(nil) }
        while !isStopped {
            do {
                let jobs = try store.jobs()
                metrics.jobs(queued: jobs.filter { $0.state == .queued }.count, running: jobs.filter { $0.state == .running }.count)
                if let job = try store.claimNextJob() {
                    process(job)
                    continue
                }
            } catch {
                logger.error("tuner: \(error)")
            }
            condition.lock()
            if !stopped && wakeups == 0 { _ = condition.wait(until: Date().addingTimeInterval(2)) }
            wakeups = 0
            condition.unlock()
        }
    }

    private func process(_ job: JobRecord) {
        let start = ContinuousClock.now
        currentJob.withLock { $0 = job.id }
        store.markWorking(job.id, true)
        turns.tunerBegins()
        defer {
            turns.tunerEnds()
            store.markWorking(job.id, false)
            currentJob.withLock { $0 = nil }
        }
        guard job.attempts <= settings.maxAttempts else {
            metrics.jobFinished(state: "failed")
            let reason = "gave up after \(job.attempts - 1) attempts: the process stopped during this job's own work each time (out of memory, or killed while training)"
            logger.error("job \(job.id): \(reason)")
            _ = try? store.failJob(job.id, reason: reason)
            return
        }
        do {
            let result = try tune(job)
            metrics.jobFinished(state: "done")
            cancelled.withLock { _ = $0.remove(job.id) }
            logger.info("job \(job.id): snapshot \(result.snapshot) \(result.promoted ? "promoted" : "kept as candidate") after \(String(format: "%.1f", start.duration(to: .now).milliseconds / 1000)) s")
        } catch {
            let wasCancelled = cancelled.withLock { $0.remove(job.id) != nil }
            metrics.jobFinished(state: wasCancelled ? "cancelled" : "failed")
            logger.error("job \(job.id) \(wasCancelled ? "cancelled" : "failed: \(error)")")
            _ = try? store.failJob(job.id, reason: wasCancelled ? Self.cancelledReason : "\(error)")
        }
    }

    private struct Outcome { var snapshot: String; var promoted: Bool }

    /// A job from start to finish: its inputs, learning (one `TaskLearning` run), the snapshot written, then
    /// promoted, entered as a canary or kept as a candidate.
    private func tune(_ job: JobRecord) throws -> Outcome {
        let task = try store.task(job.taskId)
        let (parentId, parent) = try loaded.active()
        let parentMetadata = try store.snapshot(parentId)
        // A revision continues the active snapshot's task with the strategy that learned it.
        let strategy = try Strategies.named(job.strategy ?? task.strategy ?? (task.revises != nil ? parentMetadata.strategy : nil)
                                            ?? settings.defaultStrategy)
        let inputs = try inputs(of: task, parent: parent, lineage: parentMetadata)
        let outcome = try learn(job, task: task, strategy: strategy, parent: parent, index: parentMetadata.tasks.count, inputs: inputs)
        store.reach(.tuningDone)

        _ = try store.beginEvaluation(job.id)
        let metadata = try write(outcome, task: task, strategy: strategy, parentId: parentId, lineage: parentMetadata, job: job)
        let promoted = try place(metadata.id, outcome: outcome, fromFeedback: task.feedback != nil, parentId: parentId)
        logger.info("job \(job.id): \(outcome.summary)")
        let record = JobOutcome(before: HeldOutScore(outcome.before), after: HeldOutScore(outcome.after),
                                verdict: outcome.verdict.rawValue, summary: outcome.summary, steps: outcome.report.steps,
                                stoppedOnPlateau: outcome.stoppedOnPlateau)
        _ = try store.finishJob(job.id, snapshot: metadata.id, promoted: promoted, outcome: record)
        pruneSnapshots()
        return Outcome(snapshot: metadata.id, promoted: promoted)
    }

    private struct Inputs {
        var examples: [PreparedExample]
        var heldOut: [LabeledItem]
        var earlier: [TaskLearning.Earlier]
        /// A revision: the task as the parent learned it.
        var revising: TaskLearning.Earlier?
    }

    /// This task's training and held-out items, and every earlier task's by the parent's lineage. A revision
    /// trains on the revised task's items and its own, is judged (before → after) on its own held-out items, and
    /// keeps the revised task's as the gate's.
    private func inputs(of task: TaskRecord, parent: Snapshot, lineage: SnapshotMetadata) throws -> Inputs {
        let base = parent.base
        var revisedId: String?
        if let revises = task.revises {
            guard let position = lineage.tasks.firstIndex(of: task.name) else {
                throw TunerError.revisedTaskGone("the active snapshot \(lineage.id) has no task \(task.name) to continue; "
                                                 + "push the corrections as a task of their own")
            }
            guard lineage.taskIds[position] == revises else {
                throw TunerError.revisedTaskGone("the active snapshot's \(task.name) is no longer the one these corrections were made "
                                                 + "for (it was revised or rolled back since); push them again")
            }
            revisedId = revises
        }
        var earlier: [TaskLearning.Earlier] = []
        var revising: TaskLearning.Earlier?
        var revisedTrain: [LabeledItem] = []
        for id in lineage.taskIds {
            let (record, train, heldOut) = try items(learnedAs: id)
            if id == revisedId {
                revisedTrain = train
                revising = TaskLearning.Earlier(task: ContinualTask(name: record.name, examples: []), heldOut: heldOut,
                                                parentAccuracy: lineage.accuracy[record.name])
                continue
            }
            earlier.append(TaskLearning.Earlier(task: ContinualTask(name: record.name, examples: try AdapterTuning.prepare(train, base: base)),
                                                heldOut: heldOut, parentAccuracy: lineage.accuracy[record.name]))
        }
        let items = try store.items(ofTask: task.id)
        let own = try task.trainIndices.map { try labeled(items[$0]) }
        return Inputs(examples: try AdapterTuning.prepare(revisedTrain + own, base: base),
                      heldOut: try task.evalIndices.map { try labeled(items[$0]) }, earlier: earlier, revising: revising)
    }

    /// A lineage task's training and held-out items: its own and, for a revision, those of every task it continues.
    private func items(learnedAs id: String) throws -> (record: TaskRecord, train: [LabeledItem], heldOut: [LabeledItem]) {
        var train: [LabeledItem] = [], heldOut: [LabeledItem] = []
        let chain = try store.taskChain(id)
        for record in chain {
            let all = try store.items(ofTask: record.id)
            train += try record.trainIndices.map { try labeled(all[$0]) }
            heldOut += try record.evalIndices.map { try labeled(all[$0]) }
        }
        return (chain.last!, train, heldOut)
    }

    /// Learns the task, reporting progress and held-out checks to the job as they come; cancellable.
    private func learn(_ job: JobRecord, task: TaskRecord, strategy: any ContinualStrategy, parent: Snapshot, index: Int,
                       inputs: Inputs) throws -> TaskLearning.Outcome {
        let reporter = JobProgressReporter(store: store, jobId: job.id)
        var checks: [HeldOutScore] = []
        var latest = JobProgress(step: 0, total: 0)
        let outcome = try TaskLearning(settings: settings.learning).learn(
            strategy, parent: parent,
            task: TaskLearning.Task(name: task.name, examples: inputs.examples, heldOut: inputs.heldOut, revising: inputs.revising),
            earlier: inputs.earlier, index: index, shouldStop: { [self] in isCancelled(job.id) }) { [self, metrics] event in
            switch event {
            case let .training(progress):
                latest = JobProgress(step: progress.step, total: progress.total, loss: Double(progress.loss), etaSeconds: progress.etaSeconds,
                                     checks: checks.isEmpty ? nil : checks)
                _ = try? reporter.report(latest)
                metrics.tuning(progress: Double(progress.step) / Double(progress.total), step: progress.step, loss: Double(progress.loss))
                self.pause()
            case let .checked(check):
                checks.append(HeldOutScore(correct: check.correct, items: check.items, step: check.step))
                latest.checks = checks
                _ = try? reporter.report(latest)
                logger.info("job \(job.id): held-out \(check.correct)/\(check.items) after \(check.step) steps")
            case .evaluating:
                break
            }
        }
        try reporter.flush()
        if !checks.isEmpty { _ = try? store.updateProgress(job.id, latest) }
        if isCancelled(job.id) { throw CancellationError() }
        return outcome
    }

    /// Writes the tuned snapshot with what was measured on it: the new task and every earlier one with held-out items.
    private func write(_ outcome: TaskLearning.Outcome, task: TaskRecord, strategy: any ContinualStrategy, parentId: String,
                       lineage: SnapshotMetadata, job: JobRecord) throws -> SnapshotMetadata {
        let tuned = outcome.snapshot
        var measured: [String: TaskLearning.Score] = [:]
        for entry in outcome.earlierAfter where entry.score.items > 0 { measured[entry.name] = entry.score }
        // A revision's figure is over everything the task holds out now: the revised task's items and its own.
        measured[task.name] = outcome.revisedAfter.map {
            TaskLearning.Score(correct: $0.correct + outcome.after.correct, items: $0.items + outcome.after.items)
        } ?? outcome.after
        let draft = try store.beginSnapshot(parent: parentId)
        do {
            try tuned.save(to: draft.directory, manifest: SnapshotManifest(base: "../\(baseSnapshotId)", strategy: strategy.name))
            store.reach(.snapshotWrite)
        } catch {
            try? store.discard(draft)
            throw error
        }
        return try store.commit(draft, SnapshotDetails(kind: .tuned, tasks: Array(tuned.tasks.dropFirst()),
                                                       taskIds: task.revises == nil ? lineage.taskIds + [task.id]
                                                           : lineage.taskIds.map { $0 == task.revises ? task.id : $0 },
                                                       strategy: strategy.name,
                                                       accuracy: measured.mapValues(\.accuracy), jobId: job.id,
                                                       before: [task.name: HeldOutScore(outcome.before)],
                                                       heldOut: measured.mapValues(HeldOutScore.init)))
    }

    /// Promotes the new snapshot when it passed, as a canary when it learned from users' corrections (it earns
    /// its traffic from their feedback), or keeps it as a candidate; returns whether it was promoted.
    private func place(_ id: String, outcome: TaskLearning.Outcome, fromFeedback: Bool, parentId: String) throws -> Bool {
        guard outcome.promote else {
            logger.warning("snapshot \(id) kept as a candidate: \(outcome.summary)")
            _ = try store.addCandidate(id)
            return false
        }
        if fromFeedback, settings.feedbackCanaryShare > 0, let startCanary {
            do {
                try startCanary(id, settings.feedbackCanaryShare, parentId)
                logger.notice("snapshot \(id) (from feedback) entered as a \(Int(settings.feedbackCanaryShare * 100))% canary")
            } catch {
                logger.warning("snapshot \(id) kept as a candidate: no canary could start (\(error))")
                _ = try store.addCandidate(id)
            }
            return false
        }
        try loaded.activate(id) { try store.promote(id) }
        metrics.activeSnapshot(id, previous: parentId)
        return true
    }

    /// The retention policy (`--keep-snapshots`), after each new snapshot and each promotion or rollback.
    func pruneSnapshots() {
        guard settings.keepSnapshots > 0 else { return }
        do {
            for id in try store.pruneSnapshots(keep: settings.keepSnapshots) {
                loaded.forget(id)
                logger.info("deleted snapshot \(id): more than --keep-snapshots \(settings.keepSnapshots) tuned snapshots")
            }
        } catch {
            logger.warning("could not prune old snapshots: \(error)")
        }
    }

    private func labeled(_ item: TaskItem) throws -> LabeledItem {
        LabeledItem(image: try ImageDecoder.decode(try item.imageData()), question: item.question, answer: item.answer)
    }
}

enum TunerError: Error, CustomStringConvertible {
    case revisedTaskGone(String)

    var description: String {
        switch self {
        case let .revisedTaskGone(reason): return reason
        }
    }
}

extension HeldOutScore {
    /// The store's record of a score `TaskLearning` measured.
    init(_ score: TaskLearning.Score) { self.init(correct: score.correct, items: score.items) }
}
