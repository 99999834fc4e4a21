import Continual
import Foundation
import HTTP
import Store

/// Tasks, jobs and snapshots: `/v1/tasks`, `/v1/jobs`, `/v1/snapshots`, promote and rollback.
enum StoreRoutes {
    static func register(_ router: inout InstrumentedRoutes, context: ServerContext) {
        router.post("/v1/tasks") { request, _ in
            try context.authorizeWrite(request)
            let store = try context.requireStore()
            let rules = try context.itemRules(), strategies = context.strategies
            let input = try await Validation.run { try PushInput.parse(request, rules: rules, strategies: strategies) }
            let strategyName = input.strategy ?? context.defaultStrategy
            if let (activeId, active) = try? context.loaded.active(), let strategy = try? Strategies.named(strategyName),
               let conflict = strategy.conflict(with: active) {
                throw HTTPError.conflict("\(conflict) (active snapshot \(activeId)): push with the strategy the active snapshot was built with, "
                                         + "or promote a snapshot built with \(strategyName) (or the base model) first", code: "strategy_conflict")
            }
            // The name check and the creation are one step: two pushes of one name at once cannot both pass.
            let (task, job) = try context.pushLock.withLock { _ in
                // A name is taken while its task is queued, training or learned; a failed push may be retried.
                let failedJobs = Set(try store.jobs().filter { $0.state == .failed }.map(\.id))
                if try store.tasks().contains(where: { $0.name == input.name && !failedJobs.contains($0.jobId) }) {
                    throw HTTPError.conflict("a task named \(input.name) exists already", code: "task_exists")
                }
                return try mapStoreErrors {
                    try store.createTask(name: input.name, items: input.items, evalFraction: input.evalFraction, strategy: input.strategy)
                }
            }
            context.tuner?.wake()
            return try .json(object: ["task_id": task.id, "job_id": job.id], status: .accepted)
        }
        router.get("/v1/tasks") { _, _ in
            let store = try context.requireStore()
            return try .json(object: ["tasks": try store.tasks().map(taskJSON)])
        }
        router.get("/v1/tasks/{id}") { _, parameters in
            let store = try context.requireStore()
            let task = try mapStoreErrors { try store.task(try parameters.require("id")) }
            var body = taskJSON(task)
            var accuracy: [String: Double] = [:]
            for snapshot in try store.snapshots() { if let value = snapshot.accuracy[task.name] { accuracy[snapshot.id] = value } }
            body["accuracy"] = accuracy
            return try .json(object: body)
        }
        router.get("/v1/jobs") { _, _ in
            let store = try context.requireStore()
            let tasks = Dictionary(try store.tasks().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            return try .json(object: ["jobs": try store.jobs().map { jobJSON($0, task: tasks[$0.taskId], context: context) }])
        }
        router.get("/v1/jobs/{id}") { _, parameters in
            let store = try context.requireStore()
            let job = try mapStoreErrors { try store.job(try parameters.require("id")) }
            return try .json(object: jobJSON(job, task: try? store.task(job.taskId), context: context))
        }
        router.get("/v1/snapshots") { _, _ in
            let store = try context.requireStore()
            let registry = try store.registry()
            let online = OnlineAccuracy.cells(feedback: (try? store.feedbackRecords()) ?? [], answered: context.queryLog.answered)
            var body: [String: Any] = ["snapshots": try store.snapshots().map { snapshot in
                var entry = snapshotJSON(snapshot, registry: registry, context: context)
                entry["online"] = OnlineAccuracy.json(online[snapshot.id] ?? [:])
                return entry
            }]
            body["active"] = context.loaded.activeId ?? registry.active
            // The strategies a push may name now: the others conflict with the active snapshot's adapters.
            if let (_, active) = try? context.loaded.active() {
                body["strategies"] = context.strategies.filter { (try? Strategies.named($0))?.conflict(with: active) == nil }
            }
            if let previous = registry.previousActive { body["previous"] = previous }
            return try .json(object: body)
        }
        router.get("/v1/snapshots/{id}") { _, parameters in
            let store = try context.requireStore()
            let snapshot = try mapStoreErrors { try store.snapshot(try parameters.require("id")) }
            return try .json(object: snapshotJSON(snapshot, registry: try store.registry(), context: context))
        }
        router.delete("/v1/tasks/{id}") { request, parameters in
            try context.authorizeWrite(request)
            let store = try context.requireStore()
            let id = try parameters.require("id")
            try context.pushLock.withLock { _ in try mapStoreErrors { try store.deleteTask(id) } }
            return try .json(object: ["deleted": id])
        }
        router.delete("/v1/snapshots/{id}") { request, parameters in
            try context.authorizeWrite(request)
            let store = try context.requireStore()
            let id = try parameters.require("id")
            try mapStoreErrors { try store.deleteSnapshot(id) }
            context.loaded.forget(id)
            return try .json(object: ["deleted": id])
        }
        router.delete("/v1/jobs/{id}") { request, parameters in
            try context.authorizeWrite(request)
            let store = try context.requireStore()
            let id = try parameters.require("id")
            let job = try mapStoreErrors { try store.job(id) }
            switch job.state {
            case .queued:
                _ = try mapStoreErrors { try store.failJob(id, reason: Tuner.cancelledReason) }
            case .running, .evaluating:
                // The tuner stops at its next step or check and fails the job with the same reason.
                context.tuner?.cancel(id)
            case .done, .failed:
                throw HTTPError.conflict("job \(id) is \(job.state.rawValue) already; only a queued or running job can be cancelled",
                                         code: "job_finished")
            }
            return try .json(object: ["cancelled": id], status: .accepted)
        }
        router.post("/v1/snapshots/{id}/label") { request, parameters in
            try context.authorizeWrite(request)
            let store = try context.requireStore()
            let id = try parameters.require("id")
            struct Body: Decodable { var label: String? }
            let body = try request.decodeJSON(Body.self, maxDepth: context.limits.maxJSONDepth)
            let registry = try mapStoreErrors { try store.label(id, body.label) }
            return try .json(object: ["id": id, "label": registry.labels[id].map { $0 as Any } ?? NSNull()])
        }
        router.post("/v1/snapshots/{id}/promote") { request, parameters in
            try context.authorizeWrite(request)
            let id = try parameters.require("id")
            try context.promote(id)
            return try .json(object: ["active": id])
        }
        router.post("/v1/rollback") { request, _ in
            try context.authorizeWrite(request)
            let store = try context.requireStore()
            guard let target = try store.registry().previousActive else {
                throw HTTPError.conflict("nothing to roll back to: no snapshot was active before this one", code: "nothing_to_roll_back")
            }
            let previous = context.loaded.activeId
            let registry = try context.loaded.activate(target) {
                // Switches are serialised, but one may have landed between reading `target` and now.
                guard try store.registry().previousActive == target else {
                    throw HTTPError.conflict("the active snapshot changed during the rollback; try again", code: "registry_changed")
                }
                return try mapStoreErrors { try store.rollback() }
            }
            context.metrics.activeSnapshot(registry.active ?? target, previous: previous)
            context.tuner?.pruneSnapshots()
            return try .json(object: ["active": registry.active ?? target])
        }
    }

    /// Store errors a client caused as 4xx with a code: not found 404, conflicts 409, bad arguments 400,
    /// a read-only store 503; corruption and I/O stay 500s.
    static func mapStoreErrors<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as StoreError {
            switch error {
            case .unknownTask: throw HTTPError.notFound(error.description, code: "task_not_found")
            case .unknownJob: throw HTTPError.notFound(error.description, code: "job_not_found")
            case .unknownSnapshot: throw HTTPError.notFound(error.description, code: "snapshot_not_found")
            case .invalidTransition: throw HTTPError.conflict(error.description, code: "job_state_conflict")
            case .nothingToRollBack: throw HTTPError.conflict(error.description, code: "nothing_to_roll_back")
            case .inUse: throw HTTPError.conflict(error.description, code: "in_use")
            case .invalidArgument: throw HTTPError.badRequest(error.description, code: "invalid_argument")
            case .readOnly: throw HTTPError(.serviceUnavailable, code: "read_only", message: error.description)
            default: throw error
            }
        }
    }

    static func timestamp(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    static func taskJSON(_ task: TaskRecord) -> [String: Any] {
        var body: [String: Any] = ["id": task.id, "name": task.name, "items": task.itemCount, "eval_items": task.evalCount,
                                   "created_at": timestamp(task.createdAt), "job_id": task.jobId]
        if let strategy = task.strategy { body["strategy"] = strategy }
        if let feedback = task.feedback { body["feedback"] = feedback }
        if let revises = task.revises { body["revises"] = revises }
        return body
    }

    static func jobJSON(_ job: JobRecord, task: TaskRecord?, context: ServerContext) -> [String: Any] {
        var body: [String: Any] = ["id": job.id, "task_id": job.taskId, "state": job.state.rawValue,
                                   "created_at": timestamp(job.createdAt), "updated_at": timestamp(job.updatedAt),
                                   "attempts": job.attempts]
        if let task { body["task"] = task.name }
        // What a task made of feedback learns from: corrections to wrong answers, and answers judged right.
        if let ids = task?.feedback, let store = context.store {
            let records = ids.compactMap { try? store.feedback($0) }
            body["from_feedback"] = ["corrections": records.filter { !$0.correct }.count, "judged_right": records.filter(\.correct).count]
        }
        // A revision also learns from the items the task was learned with before.
        if let revised = task?.revises, let chain = try? context.store?.taskChain(revised) {
            body["revises"] = ["task_id": revised, "training_items": chain.reduce(0) { $0 + $1.trainIndices.count }]
        }
        // The strategy the job uses: the push's, or the server's default.
        body["strategy"] = job.strategy ?? task?.strategy ?? context.defaultStrategy
        if let progress = job.progress {
            var entry: [String: Any] = ["step": progress.step, "total": progress.total]
            if let loss = progress.loss, loss.isFinite { entry["loss"] = loss }
            // A finished job has no time left.
            if let eta = progress.etaSeconds, eta.isFinite, job.state.isUnfinished { entry["eta_s"] = eta }
            if let checks = progress.checks { entry["held_out"] = checks.map(scoreJSON) }
            body["progress"] = entry
        }
        if let snapshot = job.snapshot { body["snapshot"] = snapshot }
        if let promoted = job.promoted { body["promoted"] = promoted }
        if let outcome = job.outcome {
            body["outcome"] = ["before": scoreJSON(outcome.before), "after": scoreJSON(outcome.after), "verdict": outcome.verdict,
                               "summary": outcome.summary, "steps": outcome.steps, "stopped_on_plateau": outcome.stoppedOnPlateau] as [String: Any]
        }
        if let error = job.error { body["error"] = context.redact(error) }
        return body
    }

    static func snapshotJSON(_ snapshot: SnapshotMetadata, registry: Registry, context: ServerContext) -> [String: Any] {
        var body: [String: Any] = ["id": snapshot.id, "kind": snapshot.kind.rawValue, "tasks": snapshot.tasks, "task_ids": snapshot.taskIds,
                                   "accuracy": snapshot.accuracy, "created_at": timestamp(snapshot.createdAt),
                                   "candidate": registry.candidates.contains(snapshot.id), "active": registry.active == snapshot.id]
        body["parent"] = snapshot.parent ?? NSNull()
        body["label"] = registry.labels[snapshot.id].map { $0 as Any } ?? NSNull()
        body["strategy"] = snapshot.strategy ?? NSNull()
        if let heldOut = snapshot.heldOut { body["held_out"] = heldOut.mapValues(scoreJSON) }
        if let before = snapshot.before { body["before"] = before.mapValues(scoreJSON) }
        if let bytes = try? context.requireStore().snapshotBytes(snapshot.id) { body["bytes"] = bytes }
        return body
    }

    /// Held-out items right of all; `small` flags too few to tell (`TaskLearning.minimumItems`).
    static func scoreJSON(_ score: HeldOutScore) -> [String: Any] {
        var body: [String: Any] = ["correct": score.correct, "items": score.items, "accuracy": score.accuracy,
                                   "small": score.items < TaskLearning.minimumItems]
        if let step = score.step { body["step"] = step }
        return body
    }
}
