import Foundation
import HTTP
import LLaVA
import Logging

/// What the route handlers share.
final class ServerContext: Sendable {
    let engine: Engine
    let limits: ServerLimits
    let authorization: Authorization
    let metrics: ServerMetrics
    let logger: Logger

    init(engine: Engine, limits: ServerLimits, authorization: Authorization, metrics: ServerMetrics, logger: Logger) {
        self.engine = engine
        self.limits = limits
        self.authorization = authorization
        self.metrics = metrics
        self.logger = logger
    }

    /// The named snapshot, or the active one; an unknown id is the client's 404.
    func snapshot(named id: String?) throws -> (id: String, snapshot: Snapshot) {
        guard let id else {
            do { return try engine.active() } catch let error as ServerError {
                throw HTTPError.serviceUnavailable(error.description, code: "not_ready")
            }
        }
        return (id, try engine.snapshot(id))
    }

    func answer(_ input: QueryInput, snapshot: Snapshot) async throws -> Snapshot.Routed {
        do {
            return try await engine.scheduler.answer(snapshot: snapshot, image: input.image, question: input.question, task: input.task,
                                                     maxNewTokens: input.maxNewTokens ?? snapshot.base.settings.maxAnswerTokens,
                                                     topLogprobs: input.topLogprobs)
        } catch let error as Snapshot.RoutingError {
            throw HTTPError.notFound(error.description, code: "task_not_found")
        } catch let error as LlavaError {
            throw HTTPError.badRequest(error.description, code: "invalid_query")
        }
    }
}
