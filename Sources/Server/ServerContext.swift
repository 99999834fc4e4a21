import Continual
import Foundation
import HTTP
import LLaVA
import Logging
import Store
import Synchronization

/// What the route handlers share.
final class ServerContext: Sendable {
    let engine: Engine
    let store: Store?
    let role: ServerRole
    let limits: ServerLimits
    let authorization: Authorization
    let metrics: ServerMetrics
    let logger: Logger
    let strategies = Strategies.names
    /// The strategy of pushes that name none.
    let defaultStrategy: String
    private let tunerBox = Mutex<Tuner?>(nil)
    /// Held while a push checks its name and creates its task.
    let pushLock = Mutex(())
    /// Answered queries kept for feedback.
    let queryLog: QueryLog

    init(engine: Engine, store: Store?, role: ServerRole, limits: ServerLimits, authorization: Authorization, metrics: ServerMetrics,
         logger: Logger, defaultStrategy: String, queryLog: QueryLog = QueryLog(limits: .init())) {
        self.defaultStrategy = defaultStrategy
        self.queryLog = queryLog
        self.engine = engine
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

    /// The named snapshot, or the active one; an unknown id is the client's 404.
    func snapshot(named id: String?) throws -> (id: String, snapshot: Snapshot) {
        guard let id else {
            do { return try engine.active() } catch let error as ServerError {
                throw HTTPError.serviceUnavailable(error.description, code: "not_ready")
            }
        }
        return (id, try engine.snapshot(id))
    }

    /// The rules of what an item may be, with the tokenizer and positions of the base model every snapshot shares.
    func itemRules() throws -> ItemRules {
        ItemRules(limits: limits, pipeline: try snapshot(named: nil).snapshot.base)
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
