import Foundation
import Logging

/// The route table and the one place where thrown errors become JSON error responses.
///
/// ```swift
/// var router = Router(logger: logger)
/// router.get("/v1/tasks/{id}") { request, parameters in
///     guard let task = store.task(id: try parameters.require("id")) else {
///         throw HTTPError.notFound("no task \(parameters["id"]!)", code: "task_not_found")
///     }
///     return try .json(task)
/// }
/// let response = await router.respond(to: HTTPRequest(method: .get, uri: "/v1/tasks/7"))
/// ```
///
/// Resolution: among routes whose pattern matches the path, the most specific wins (literal segments
/// over `{parameters}` over `{rest...}`); if none of them accepts the method the answer is 405 with
/// `Allow`; if no pattern matches, the `fallback` (e.g. `StaticFiles`) answers, else 404. `HEAD` is
/// served by the `GET` handler unless a `HEAD` route exists.
public struct Router: Sendable {
    /// A route handler. Throw `HTTPError` for client errors; anything else becomes a logged 500.
    public typealias Handler = @Sendable (HTTPRequest, RouteParameters) async throws -> HTTPResponse

    struct Route: Sendable {
        let method: HTTPMethod
        let pattern: RoutePattern
        let handler: Handler
    }

    private(set) var routes: [Route] = []
    /// Every registered route as (method, pattern), e.g. ("POST", "/v1/snapshots/{id}/promote"): what an API
    /// description must cover.
    public var endpoints: [(method: String, pattern: String)] { routes.map { ($0.method.rawValue, $0.pattern.description) } }
    /// Answers requests whose path matches no route (any method). Without one they get a 404.
    public var fallback: Handler?
    /// Receives unexpected (non-`HTTPError`) errors.
    public var logger: Logger

    public init(logger: Logger = Logger(label: "mneme.http")) {
        self.logger = logger
    }

    /// Adds a route. Registering the same method twice for patterns that match the same paths is a
    /// programmer mistake and stops the program.
    public mutating func on(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Handler) {
        let parsed = RoutePattern(pattern)
        if let clash = routes.first(where: { $0.method == method && $0.pattern.hasSameShape(as: parsed) }) {
            preconditionFailure("\(method) \(pattern) duplicates \(method) \(clash.pattern)")
        }
        routes.append(Route(method: method, pattern: parsed, handler: handler))
    }

    public mutating func get(_ pattern: String, _ handler: @escaping Handler) { on(.get, pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping Handler) { on(.post, pattern, handler) }
    public mutating func put(_ pattern: String, _ handler: @escaping Handler) { on(.put, pattern, handler) }
    public mutating func patch(_ pattern: String, _ handler: @escaping Handler) { on(.patch, pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping Handler) { on(.delete, pattern, handler) }

    /// Serves `files` for every path no route matches.
    public mutating func serveStaticFiles(_ files: StaticFiles) {
        fallback = { request, _ in try files.respond(to: request) }
    }

    /// Runs the matching handler and returns its response, or the JSON error response for whatever
    /// it threw: `HTTPError` as is, `DecodingError` as a 400 naming the field, cancellation as a 503,
    /// anything else as a generic 500 (details logged, not sent).
    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        do {
            switch resolve(request.method, request.path) {
            case .found(let handler, let parameters):
                return try await handler(request, parameters)
            case .wrongMethod(let allowed):
                throw HTTPError.methodNotAllowed(request.method, path: request.path, allowed: allowed)
            case .notFound:
                if let fallback { return try await fallback(request, RouteParameters()) }
                throw HTTPError.notFound("no route for \(request.method) \(request.path)")
            }
        } catch {
            return errorResponse(for: error, request: request)
        }
    }

    /// The error response for `error`, as `respond(to:)` sends it.
    public func errorResponse(for error: any Error, request: HTTPRequest) -> HTTPResponse {
        switch error {
        case let error as HTTPError:
            return error.response
        case let error as DecodingError:
            return HTTPError.invalidJSON(error).response
        case is CancellationError:
            return HTTPError.serviceUnavailable("the request was cancelled (server shutting down?)",
                                                code: "cancelled").response
        default:
            logger.error("unhandled error in \(request.method) \(request.path): \(String(reflecting: error))")
            return HTTPError.internalError.response
        }
    }

    enum Resolution {
        case found(Handler, RouteParameters)
        case wrongMethod(allowed: [HTTPMethod])
        case notFound
    }

    func resolve(_ method: HTTPMethod, _ path: String) -> Resolution {
        let segments = RoutePattern.split(path)
        var best: (route: Route, parameters: RouteParameters)?
        var bestForGet: (route: Route, parameters: RouteParameters)?
        var allowed: [HTTPMethod] = []
        for route in routes {
            guard let parameters = route.pattern.match(segments) else { continue }
            if !allowed.contains(route.method) { allowed.append(route.method) }
            if route.method == method, best.map({ route.pattern.isMoreSpecific(than: $0.route.pattern) }) ?? true {
                best = (route, parameters)
            }
            if route.method == .get,
               bestForGet.map({ route.pattern.isMoreSpecific(than: $0.route.pattern) }) ?? true {
                bestForGet = (route, parameters)
            }
        }
        if let best { return .found(best.route.handler, best.parameters) }
        if method == .head, let bestForGet { return .found(bestForGet.route.handler, bestForGet.parameters) }
        if allowed.isEmpty { return .notFound }
        if allowed.contains(.get) && !allowed.contains(.head) { allowed.append(.head) }
        return .wrongMethod(allowed: allowed)
    }
}
