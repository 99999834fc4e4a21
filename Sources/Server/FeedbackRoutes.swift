import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTP
import Store

/// `POST /v1/feedback` (was an answer right?) and `GET /v1/feedback`.
enum FeedbackRoutes {
    static func register(_ router: inout InstrumentedRoutes, context: ServerContext) {
        router.post("/v1/feedback") { request, _ in
            if context.role == .replica { return try await forward(request, context: context) }
            try context.authorizeWrite(request)
            let store = try context.requireStore()
            let body = try request.decodeJSON(Judgement.self, maxDepth: context.limits.maxJSONDepth)
            let correction = try body.correction(rules: try context.itemRules())
            // Feedback is kept once per answer: the same again is answered from the store, even after the query expired.
            if let stored = try StoreRoutes.mapStoreErrors({ try store.feedback(body.query_id) }) {
                let candidate = FeedbackRecord(queryId: body.query_id, snapshot: stored.snapshot, task: stored.task, question: stored.question,
                                               answer: stored.answer, correct: body.correct, correction: correction, askedAt: stored.askedAt)
                guard stored.agrees(with: candidate) else {
                    throw HTTPError.conflict("query \(body.query_id) has feedback already; feedback is kept once per answer", code: "feedback_exists")
                }
                return try .json(object: json(stored, repeated: true))
            }
            let entry = try heldQuery(body.query_id, context: context)
            let record = FeedbackRecord(queryId: entry.id, snapshot: entry.snapshot, task: entry.task, question: entry.question,
                                        answer: entry.answer, correct: body.correct, correction: correction, askedAt: entry.askedAt)
            return try keep(record, image: entry.image, store: store, context: context)
        }
        // A replica's feedback with the query it holds (`forward`): stored as if the query had been answered here.
        router.post("/v1/feedback/forwarded") { request, _ in
            try context.authorizeWrite(request)
            let store = try context.requireStore()
            let body = try request.decodeJSON(Forwarded.self, maxDepth: context.limits.maxJSONDepth)
            let rules = try context.itemRules()
            guard let image = Data(base64Encoded: body.query.image) else { throw HTTPError.badRequest("query.image is not base64", code: "invalid_image") }
            _ = try rules.image(image, field: "query.image")
            guard let askedAt = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(body.query.asked_at) else {
                throw HTTPError.badRequest("query.asked_at is not an ISO 8601 time", code: "invalid_field")
            }
            let record = FeedbackRecord(queryId: body.query_id, snapshot: body.query.snapshot, task: body.query.task,
                                        question: try rules.question(body.query.question, field: "query.question"), answer: body.query.answer,
                                        correct: body.correct, correction: try body.judgement.correction(rules: rules), askedAt: askedAt)
            return try keep(record, image: image, store: store, context: context)
        }
        router.post("/v1/tasks/{name}/corrections/tune") { request, parameters in
            try context.authorizeWrite(request)
            guard let (task, job, corrections) = try context.tuneFromFeedback(task: try parameters.require("name")) else {
                throw HTTPError.conflict("no corrections to tune", code: "no_corrections")
            }
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

    /// What a client says of an answer.
    struct Judgement: Codable {
        var query_id: String
        var correct: Bool
        var answer: String?

        /// The right answer, checked like a pushed one; only for a wrong answer.
        func correction(rules: ItemRules) throws -> String? {
            guard let answer else { return nil }
            guard !correct else {
                throw HTTPError.badRequest("answer gives the right answer to a wrong one; leave it out when correct is true", code: "invalid_field")
            }
            return try rules.answer(answer, field: "answer")
        }
    }

    /// A replica's judgement with the query it answered.
    struct Forwarded: Codable {
        struct Query: Codable {
            var snapshot: String
            var task: String
            var question: String
            var answer: String
            var image: String
            var asked_at: String
        }
        var query_id: String
        var correct: Bool
        var answer: String?
        var query: Query
        var judgement: Judgement { Judgement(query_id: query_id, correct: correct, answer: answer) }
    }

    /// The answered query this process holds for feedback; 410 when it held it once, 404 when never.
    private static func heldQuery(_ id: String, context: ServerContext) throws -> QueryLog.Entry {
        switch context.queryLog.lookUp(id) {
        case .found(let entry): return entry
        case .expired:
            throw HTTPError(410, code: "query_expired",
                            message: "query \(id) is no longer held here (queries are kept for a bounded time and size, and not across restarts)")
        case .unknown: throw HTTPError.notFound("no query with id '\(id)' here", code: "unknown_query")
        }
    }

    /// Stores a judgement (once per answer) and lets it count: metrics, a running canary, corrections.
    private static func keep(_ record: FeedbackRecord, image: Data, store: Store, context: ServerContext) throws -> HTTPResponse {
        let (stored, repeated) = try StoreRoutes.mapStoreErrors { try store.recordFeedback(record, image: image) }
        if !repeated {
            context.metrics.feedback(snapshot: stored.snapshot, task: stored.task, correct: stored.correct)
            context.canary?.recordFeedback(snapshot: stored.snapshot, correct: stored.correct, askedAt: stored.askedAt)
            context.judgeCanary()
            context.maybeTuneFromFeedback(task: stored.task)
        }
        return try .json(object: json(stored, repeated: repeated), status: repeated ? .ok : .created)
    }

    /// On a replica: the query is held here, the store is the tuner's. The judgement goes to the tuner
    /// (`--tuner-url`) with the query, carrying the client's own credentials; the tuner's answer is relayed.
    private static func forward(_ request: HTTPRequest, context: ServerContext) async throws -> HTTPResponse {
        guard let tuner = context.tunerURL else {
            throw HTTPError.forbidden("this is a read-only serving replica without --tuner-url; send feedback to the tuner", code: "read_only_replica")
        }
        let body = try request.decodeJSON(Judgement.self, maxDepth: context.limits.maxJSONDepth)
        let entry = try heldQuery(body.query_id, context: context)
        let forwarded = Forwarded(query_id: body.query_id, correct: body.correct, answer: body.answer,
                                  query: .init(snapshot: entry.snapshot, task: entry.task, question: entry.question, answer: entry.answer,
                                               image: entry.image.base64EncodedString(),
                                               asked_at: StoreRoutes.timestamp(entry.askedAt)))
        var outgoing = URLRequest(url: tuner.appendingPathComponent("v1/feedback/forwarded"))
        outgoing.httpMethod = "POST"
        outgoing.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let authorization = request.headers["Authorization"] { outgoing.setValue(authorization, forHTTPHeaderField: "Authorization") }
        outgoing.httpBody = try JSONEncoder().encode(forwarded)
        outgoing.timeoutInterval = 30
        let (data, status): (Data, Int)
        do {
            (data, status) = try await withCheckedThrowingContinuation { continuation in
                URLSession.shared.dataTask(with: outgoing) { data, response, error in
                    if let error { continuation.resume(throwing: error); return }
                    continuation.resume(returning: (data ?? Data(), (response as? HTTPURLResponse)?.statusCode ?? 502))
                }.resume()
            }
        } catch {
            throw HTTPError(502, code: "tuner_unreachable", message: "the tuner (--tuner-url) could not be reached to store the feedback; retry")
        }
        var response = HTTPResponse.file(data, contentType: "application/json")
        response.status = HTTPStatus(status)
        return response
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

