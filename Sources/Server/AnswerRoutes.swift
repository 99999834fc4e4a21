import Foundation
import HTTP
import LLaVA
import Tokenizer

/// `POST /v1/answer` and `POST /v1/compare`.
enum AnswerRoutes {
    static func register(_ router: inout InstrumentedRoutes, context: ServerContext) {
        router.post("/v1/answer") { request, _ in
            let input = try QueryInput.parse(request, rules: try context.itemRules())
            let start = ContinuousClock.now
            let (id, snapshot) = try context.snapshot(named: input.snapshot, clientKey: request.headers["X-Client-Key"])
            // Unpinned answers count towards a running canary (both of its snapshots).
            let canary = input.snapshot == nil ? context.canary : nil
            let routed: Snapshot.Routed
            do { routed = try await context.answer(input, snapshot: snapshot) } catch {
                canary?.recordAnswer(snapshot: id, milliseconds: nil, failed: true)
                throw error
            }
            if let canary {
                canary.recordAnswer(snapshot: id, milliseconds: start.duration(to: .now).milliseconds, failed: false)
                context.judgeCanary()
                if id == canary.active, canary.shadows(), let candidate = try? context.loaded.snapshot(canary.candidate) {
                    // Shadow: the candidate answers too, after the client has its answer; only agreement is kept.
                    let activeAnswer = routed.answer.text, task = routed.task
                    Task.detached {
                        defer { canary.shadowDone() }
                        guard let shadowed = try? await context.answer(input, snapshot: candidate) else { return }
                        canary.recordShadow(task: task, agreed: shadowed.answer.text == activeAnswer)
                    }
                }
            }
            var body = result(routed, snapshot: id, topLogprobs: input.topLogprobs, tokenizer: snapshot.base.tokenizer)
            body["query_id"] = context.queryLog.record(snapshot: id, task: routed.task, question: input.question, answer: routed.answer.text,
                                                       image: input.imageData)
            body["latency_ms"] = start.duration(to: .now).milliseconds
            return try .json(object: body)
        }
        router.post("/v1/compare") { request, _ in
            let input = try QueryInput.parse(request, rules: try context.itemRules())
            guard let ids = input.snapshots, (1 ... 4).contains(ids.count) else {
                throw HTTPError.badRequest("snapshots must list one to four snapshot ids", code: "invalid_field")
            }
            let start = ContinuousClock.now
            let snapshots = try ids.map { try context.snapshot(named: $0) }
            // Both go into the scheduler at once, so they are answered in the same batch.
            let answers = try await withThrowingTaskGroup(of: (Int, Snapshot.Routed).self) { group in
                for (index, entry) in snapshots.enumerated() {
                    group.addTask { (index, try await context.answer(input, snapshot: entry.snapshot)) }
                }
                var results = [Snapshot.Routed?](repeating: nil, count: snapshots.count)
                for try await (index, routed) in group { results[index] = routed }
                return results.map { $0! }
            }
            let results = zip(snapshots, answers).map { entry, routed in
                var body = result(routed, snapshot: entry.id, topLogprobs: input.topLogprobs, tokenizer: entry.snapshot.base.tokenizer)
                // Each snapshot's answer can be judged on its own.
                body["query_id"] = context.queryLog.record(snapshot: entry.id, task: routed.task, question: input.question,
                                                           answer: routed.answer.text, image: input.imageData)
                return body
            }
            return try .json(object: ["results": results, "latency_ms": start.duration(to: .now).milliseconds])
        }
    }

    static func result(_ routed: Snapshot.Routed, snapshot: String, topLogprobs: Int, tokenizer: Tokenizer) -> [String: Any] {
        var body: [String: Any] = [
            "answer": routed.answer.text, "task": routed.task, "task_confidence": Double(routed.confidence),
            "snapshot": snapshot, "token_ids": routed.answer.generation.tokenIds,
        ]
        if topLogprobs > 0 {
            body["top_logprobs"] = routed.answer.generation.topLogprobs.map { step in
                step.map { ["token_id": $0.tokenId, "token": tokenizer.decode([$0.tokenId], skipSpecialTokens: false),
                            "logprob": Double($0.logprob)] as [String: Any] }
            }
        }
        return body
    }
}
