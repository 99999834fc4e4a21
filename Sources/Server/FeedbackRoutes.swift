import Foundation
import HTTP
import Store

/// `POST /v1/feedback` (was an answer right?) and `GET /v1/feedback`.
enum FeedbackRoutes {
    static func register(_ router: inout InstrumentedRoutes, context: ServerContext) {
        router.post("/v1/feedback") { request, _ in
            try context.authorizeWrite(request)
            let store = try context.requireStore()
            struct Body: Decodable {
                var query_id: String
                var correct: Bool
                var answer: String?
            }
            let body = try request.decodeJSON(Body.self, maxDepth: context.limits.maxJSONDepth)
            var correction: String?
            if let answer = body.answer {
                guard !body.correct else {
                    throw HTTPError.badRequest("answer gives the right answer to a wrong one; leave it out when correct is true", code: "invalid_field")
                }
                correction = try context.itemRules().answer(answer, field: "answer")
            }
            // Feedback is kept once per answer: the same again is answered from the store, even after the query expired.
            if let stored = try StoreRoutes.mapStoreErrors({ try store.feedback(body.query_id) }) {
                let candidate = FeedbackRecord(queryId: body.query_id, snapshot: stored.snapshot, task: stored.task, question: stored.question,
                                               answer: stored.answer, correct: body.correct, correction: correction, askedAt: stored.askedAt)
                guard stored.agrees(with: candidate) else {
                    throw HTTPError.conflict("query \(body.query_id) has feedback already; feedback is kept once per answer", code: "feedback_exists")
                }
                return try .json(object: json(stored, repeated: true))
            }
            let entry: QueryLog.Entry
            switch context.queryLog.lookUp(body.query_id) {
            case .found(let found): entry = found
            case .expired:
                throw HTTPError(410, code: "query_expired",
                                message: "query \(body.query_id) is no longer held (queries are kept for a bounded time and size, and not across restarts)")
            case .unknown:
                throw HTTPError.notFound("no query with id '\(body.query_id)'", code: "unknown_query")
            }
            let record = FeedbackRecord(queryId: entry.id, snapshot: entry.snapshot, task: entry.task, question: entry.question,
                                        answer: entry.answer, correct: body.correct, correction: correction, askedAt: entry.askedAt)
            let (stored, repeated) = try StoreRoutes.mapStoreErrors { try store.recordFeedback(record, image: entry.image) }
            if !repeated {
                context.metrics.feedback(snapshot: stored.snapshot, task: stored.task, correct: stored.correct)
                context.canary?.recordFeedback(snapshot: stored.snapshot, correct: stored.correct, askedAt: stored.askedAt)
                context.judgeCanary()
                context.maybeTuneFromFeedback(task: stored.task)
            }
            return try .json(object: json(stored, repeated: repeated), status: repeated ? .ok : .created)
        }
        router.post("/v1/tasks/{name}/corrections/tune") { request, parameters in
            try context.authorizeWrite(request)
            let (task, job, corrections) = try context.tuneFromFeedback(task: try parameters.require("name"))
            return try .json(object: ["task_id": task.id, "job_id": job.id, "name": task.name, "items": task.itemCount, "corrections": corrections],
                             status: .accepted)
        }
        router.get("/v1/feedback") { request, _ in
            let store = try context.requireStore()
            let records = try store.feedbackRecords().filter { record in
                (request.query["snapshot"].map { $0 == record.snapshot } ?? true) && (request.query["task"].map { $0 == record.task } ?? true)
            }
            return try .json(object: ["feedback": records.map { json($0, repeated: nil) }])
        }
    }

    static func json(_ record: FeedbackRecord, repeated: Bool?) -> [String: Any] {
        var body: [String: Any] = ["query_id": record.queryId, "snapshot": record.snapshot, "task": record.task, "question": record.question,
                                   "answer": record.answer, "correct": record.correct,
                                   "asked_at": StoreRoutes.timestamp(record.askedAt), "created_at": StoreRoutes.timestamp(record.createdAt)]
        if let correction = record.correction { body["correction"] = correction }
        if let repeated { body["repeated"] = repeated }
        return body
    }
}
