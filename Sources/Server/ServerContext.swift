import Continual
import Foundation
import HTTP
import LLaVA
import Logging
import Store
import Synchronization

/// What the route handlers share.
final class ServerContext: Sendable {
    let loaded: LoadedSnapshots
    /// Queries wait here and are answered in batches.
    let scheduler: InferenceScheduler
    let store: Store?
    let role: ServerRole
    let limits: ServerLimits
    let authorization: Authorization
    let metrics: ServerMetrics
    let logger: Logger
    let strategies = Strategies.names
    /// How pushed tasks are tuned (the tuner's own copy: one value, set once).
    let tunerSettings: TunerSettings
    /// The strategy of pushes that name none.
    var defaultStrategy: String { tunerSettings.defaultStrategy }
    private let tunerBox = Mutex<Tuner?>(nil)
    /// Held while a push checks its name and creates its task.
    let pushLock = Mutex(())
    /// Answered queries kept for feedback.
    let queryLog: QueryLog
    /// On a replica: the tuner that takes the feedback on its answers (`--tuner-url`).
    let tunerURL: URL?

    init(loaded: LoadedSnapshots, scheduler: InferenceScheduler, store: Store?, role: ServerRole, limits: ServerLimits, authorization: Authorization, metrics: ServerMetrics,
         logger: Logger, tunerSettings: TunerSettings, queryLog: QueryLog = QueryLog(limits: .init()), correctionsThreshold: Int = 0, tunerURL: URL? = nil) {
        self.tunerURL = tunerURL
        self.tunerSettings = tunerSettings
        self.scheduler = scheduler
        self.correctionsThreshold = correctionsThreshold
        self.queryLog = queryLog
        self.loaded = loaded
        self.store = store
        self.role = role
        self.limits = limits
        self.authorization = authorization
        self.metrics = metrics
        self.logger = logger
    }

    /// `text` with the data directory's path replaced by `<data>`: what clients read (errors, a failed job's
    /// reason) never names the server's file system. The log keeps the full text.
    func redact(_ text: String) -> String {
        guard let store else { return text }
        var result = text
        for path in Set([store.directory.path, store.directory.resolvingSymlinksInPath().path]) where path.count > 1 {
            result = result.replacingOccurrences(of: path, with: "<data>")
        }
        return result
    }

    var tuner: Tuner? {
        get { tunerBox.withLock { $0 } }
        set { tunerBox.withLock { $0 = newValue } }
    }

    // MARK: Learning from feedback

    /// Corrections on the base model's answers that start a task by themselves (0: only on demand).
    let correctionsThreshold: Int

    /// Feedback on answers routed to `task` that no task was made from yet, and which of it are corrections.
    func unusedFeedback(task: String) throws -> (items: [FeedbackRecord], corrections: Int) {
        let records = try requireStore().unusedFeedback().filter { $0.task == task && ($0.correct || $0.correction != nil) }
        return (records, records.filter { !$0.correct }.count)
    }

    /// Makes a task of the feedback on answers routed to `task` — a right answer as it was given, a wrong one with
    /// its correction — and queues its tuning job. For the base model's answers it is a new task
    /// `from-feedback-N`; for a task the active snapshot learned, a revision of it (same name, `revises`), whose
    /// job continues that task's adapter on its items plus these (`Tuner`).
    func tuneFromFeedback(task: String, minimumCorrections: Int = 1) throws -> (task: TaskRecord, job: JobRecord, corrections: Int)? {
        let store = try requireStore()
        return try pushLock.withLock { _ in
            var revises: String?
            if task != "base" {
                guard let active = loaded.activeId else { throw HTTPError.serviceUnavailable("no active snapshot yet", code: "not_ready") }
                let lineage = try store.snapshot(active)
                guard let position = lineage.tasks.firstIndex(of: task) else {
                    throw HTTPError.notFound("the active snapshot \(active) has no task \(task); its tasks: "
                                             + (["base"] + lineage.tasks).joined(separator: ", "), code: "unknown_task")
                }
                if let name = lineage.strategy, let strategy = try? Strategies.named(name), !strategy.canRevise {
                    throw HTTPError.conflict("\(task) was learned by \(name), which cannot continue a task it learned; "
                                             + "corrections to it cannot be tuned", code: "not_supported")
                }
                revises = lineage.taskIds[position]
                // One revision at a time: the next continues the snapshot this one makes.
                for record in try store.tasks() where record.name == task && record.revises != nil {
                    let state = try store.job(record.jobId).state
                    if state == .queued || state == .running {
                        throw HTTPError.conflict("a revision of \(task) is \(state.rawValue) (job \(record.jobId)); corrections "
                                                 + "after it wait for the next", code: "revision_pending")
                    }
                }
            }
            let (records, corrections) = try unusedFeedback(task: task)
            // Checked under the lock: two feedbacks at the threshold at once start one task, not two.
            if minimumCorrections > 1, corrections < minimumCorrections { return nil }
            guard corrections > 0 else {
                throw HTTPError.conflict("no corrections to \(task == "base" ? "the base model's" : task + "'s") answers that a task was not "
                                         + "made from already", code: "no_corrections")
            }
            let items = try records.map { record in
                PushedItem(image: try store.feedbackImage(record), question: record.question, answer: record.correct ? record.answer : record.correction!)
            }
            var name = task
            if revises == nil {
                let names = Set(try store.tasks().map(\.name))
                var number = try store.tasks().filter { $0.feedback != nil && $0.revises == nil }.count + 1
                while names.contains("from-feedback-\(number)") { number += 1 }
                name = "from-feedback-\(number)"
            }
            let (created, job) = try StoreRoutes.mapStoreErrors {
                try store.createTask(name: name, items: items, evalFraction: 0.2, feedback: records.map(\.queryId), revises: revises)
            }
            logger.notice("task \(created.name) \(revises == nil ? "made" : "revised") from \(items.count) judged answers (\(corrections) corrections); job \(job.id) queued")
            tuner?.wake()
            return (created, job, corrections)
        }
    }

    /// After a feedback: enough corrections to the answers routed to one task (or to the base model) start its
    /// tuning by themselves.
    func maybeTuneFromFeedback(task: String) {
        guard correctionsThreshold > 0, role != .replica else { return }
        do {
            guard try unusedFeedback(task: task).corrections >= correctionsThreshold else { return }
            _ = try tuneFromFeedback(task: task, minimumCorrections: correctionsThreshold)
        } catch let error as HTTPError where error.code == "revision_pending" {
            // Counted again after each feedback: the next revision starts once this one is done.
        } catch {
            logger.error("could not start tuning from feedback on \(task): \(error)")
        }
    }

    // MARK: Canary

    private let canaryState = Mutex<(canary: Canary?, decisions: [Canary.Decision])>((nil, []))

    /// The canary in progress.
    var canary: Canary? { canaryState.withLock { $0.canary } }
    /// Decisions taken on canaries since start, oldest first.
    var canaryDecisions: [Canary.Decision] { canaryState.withLock { $0.decisions } }

    /// Starts sending `share` of the unpinned queries to `candidate`, compared with the active snapshot — which
    /// must be `against` when given (a snapshot tuned on top of it; another switch since would make the
    /// comparison, and a completion, drop what that switch brought).
    func startCanary(candidate: String, share: Double, shadow: Double = 0, against expected: String? = nil) throws -> Canary {
        _ = try snapshot(named: candidate)
        guard let active = loaded.activeId else { throw HTTPError.serviceUnavailable("no active snapshot yet", code: "not_ready") }
        guard candidate != active else { throw HTTPError.conflict("\(candidate) is the active snapshot already", code: "already_active") }
        if let expected, expected != active {
            throw HTTPError.conflict("the active snapshot is \(active), not \(expected) that \(candidate) was built on", code: "registry_changed")
        }
        let canary = Canary(candidate: candidate, active: active, share: share, shadow: shadow)
        try canaryState.withLock { state in
            if let running = state.canary {
                throw HTTPError.conflict("a canary of \(running.candidate) is running; complete or roll it back first", code: "canary_running")
            }
            state.canary = canary
        }
        // In the registry too, so that replicas split their traffic the same way.
        do { try store?.setCanary(canary.record) } catch {
            canaryState.withLock { state in if state.canary === canary { state.canary = nil } }
            throw error
        }
        let shadowing = shadow > 0 ? ", and shadows \(Int(shadow * 100))% of the active one's" : ""
        logger.notice("canary: \(candidate) gets \(Int(share * 100))% of unpinned queries against \(active)\(shadowing)")
        return canary
    }

    /// Ends `canary` with `decision` if it is still the one running (one decision per canary; returns the
    /// decision this call recorded, nil when another was first): completed promotes the candidate, but only
    /// while the snapshot it was compared with is active — otherwise, or if the promotion fails, it ends rolled
    /// back with the reason. Logged with its numbers and kept for `GET /v1/canary`.
    @discardableResult
    func finishCanary(_ canary: Canary, _ decision: Canary.Decision) -> Canary.Decision? {
        let claimed = canaryState.withLock { state -> Bool in
            guard state.canary === canary else { return false }
            state.canary = nil
            return true
        }
        guard claimed else { return nil }
        var decision = decision
        if decision.action == .completed {
            do { try promote(canary.candidate, replacing: canary.active) } catch {
                decision.action = .rolledBack
                decision.reason = "not completed (\(decision.reason)): \(error)"
            }
        }
        do { try store?.setCanary(nil) } catch { logger.error("canary: could not clear it from the registry: \(error)") }
        canaryState.withLock { state in
            state.decisions.append(decision)
            if state.decisions.count > 100 { state.decisions.removeFirst() }
        }
        logger.notice("canary \(decision.candidate) \(decision.action.rawValue): \(decision.reason)")
        return decision
    }

    /// Follows the registry's canary: a replica splits its traffic as the tuner does (only the tuner decides), and
    /// a restarted tuner takes up a canary it left running (counting anew).
    func followCanary(_ record: Registry.Canary?) {
        canaryState.withLock { state in
            guard state.canary?.record != record else { return }
            state.canary = record.map { Canary(candidate: $0.candidate, active: $0.active, share: $0.traffic, shadow: $0.shadow, started: $0.startedAt) }
        }
    }

    /// Applies the canary's rule after an answer or a feedback (on the process that writes; replicas follow).
    func judgeCanary() {
        guard role != .replica, let canary else { return }
        if let active = loaded.activeId, active != canary.active {
            // Promoted or rolled back by hand, or by the tuner: the comparison no longer holds.
            finishCanary(canary, canary.decided(.rolledBack, because: "ended: the active snapshot became \(active)"))
            return
        }
        guard let decision = canary.judge() else { return }
        finishCanary(canary, decision)
    }

    /// Makes `id` the active snapshot (recorded in the registry first), then applies the retention policy.
    /// `replacing`: only if that snapshot is still the active one when the switch happens.
    func promote(_ id: String, replacing expected: String? = nil) throws {
        let store = try requireStore()
        _ = try StoreRoutes.mapStoreErrors { try store.snapshot(id) }
        let previous = loaded.activeId
        try loaded.activate(id) {
            if let expected, try store.registry().active != expected {
                throw HTTPError.conflict("the active snapshot changed meanwhile", code: "registry_changed")
            }
            return try StoreRoutes.mapStoreErrors { try store.promote(id) }
        }
        metrics.activeSnapshot(id, previous: previous)
        tuner?.pruneSnapshots()
    }

    func requireStore() throws -> Store {
        guard let store else { throw HTTPError.serviceUnavailable("this server has no data directory", code: "no_store") }
        return store
    }

    /// Writes need the token, and a replica takes none at all.
    func authorizeWrite(_ request: HTTPRequest) throws {
        if role == .replica {
            throw HTTPError.forbidden("this is a read-only serving replica; send pushes, promotions and rollbacks to the tuner",
                                      code: "read_only_replica")
        }
        try authorization.authorizeWrite(request)
    }

    /// The snapshot a query names, else the canary's candidate for its share of clients, else the active one.
    func snapshot(named id: String?, clientKey: String? = nil) throws -> (id: String, snapshot: Snapshot) {
        if id == nil, let canary, canary.active == loaded.activeId, canary.routesToCandidate(clientKey: clientKey),
           let candidate = try? loaded.snapshot(canary.candidate) {
            return (canary.candidate, candidate)
        }
        guard let id else {
            do { return try loaded.active() } catch let error as ServerError {
                throw HTTPError.serviceUnavailable(error.description, code: "not_ready")
            }
        }
        return (id, try loaded.snapshot(id))
    }

    /// The rules of what an item may be, with the tokenizer and positions of the base model every snapshot shares.
    func itemRules() throws -> ItemRules {
        ItemRules(limits: limits, pipeline: try snapshot(named: nil).snapshot.base)
    }

    func answer(_ input: QueryInput, snapshot: Snapshot) async throws -> Snapshot.Routed {
        do {
            return try await scheduler.answer(snapshot: snapshot, image: input.image, question: input.question, task: input.task,
                                                     maxNewTokens: input.maxNewTokens ?? snapshot.base.settings.maxAnswerTokens,
                                                     topLogprobs: input.topLogprobs)
        } catch let error as Snapshot.RoutingError {
            throw HTTPError.notFound(error.description, code: "task_not_found")
        } catch let error as LlavaError {
            throw HTTPError.badRequest(error.description, code: "invalid_query")
        }
    }
}
