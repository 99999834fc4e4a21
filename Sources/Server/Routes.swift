import Foundation
import HTTP

/// The route table: every endpoint of docs/DESIGN.md §7 in one place, each handler wrapped to record its metrics.
enum Routes {
    static func makeRouter(context: ServerContext, publicDirectory: URL?) -> Router {
        var router = Router(logger: context.logger)
        var table = InstrumentedRoutes(router: router, metrics: context.metrics, redact: context.redact)
        HealthRoutes.register(&table, context: context)
        AnswerRoutes.register(&table, context: context)
        StoreRoutes.register(&table, context: context)
        FeedbackRoutes.register(&table, context: context)
        CanaryRoutes.register(&table, context: context)
        router = table.router
        if let publicDirectory {
            let files = StaticFiles(root: publicDirectory)
            router.fallback = { request, _ in
                let start = ContinuousClock.now
                do {
                    let response = try files.respond(to: request)
                    context.metrics.request(route: "static", method: request.method.rawValue, status: Int(response.status.code),
                                            duration: start.duration(to: .now))
                    return response
                } catch let error as HTTPError {
                    context.metrics.request(route: "static", method: request.method.rawValue, status: Int(error.status.code),
                                            duration: start.duration(to: .now))
                    throw error
                }
            }
        }
        return router
    }
}

/// Registers routes on a router, recording requests by route pattern, method and status.
struct InstrumentedRoutes {
    var router: Router
    let metrics: ServerMetrics
    /// Applied to every error message a client gets.
    let redact: @Sendable (String) -> String

    mutating func on(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Router.Handler) {
        let metrics = self.metrics, redact = self.redact
        let logger = router.logger
        router.on(method, pattern) { request, parameters in
            let start = ContinuousClock.now
            let response: HTTPResponse
            do {
                response = try await handler(request, parameters)
            } catch {
                // Map here too, so the recorded status is the one the client gets.
                var redacted = error
                if var error = error as? HTTPError {
                    error.message = redact(error.message)
                    redacted = error
                }
                let mapped = Router(logger: logger).errorResponse(for: redacted, request: request)
                metrics.request(route: pattern, method: method.rawValue, status: Int(mapped.status.code), duration: start.duration(to: .now))
                return mapped
            }
            metrics.request(route: pattern, method: method.rawValue, status: Int(response.status.code), duration: start.duration(to: .now))
            return response
        }
    }

    mutating func get(_ pattern: String, _ handler: @escaping Router.Handler) { on(.get, pattern, handler) }
    mutating func post(_ pattern: String, _ handler: @escaping Router.Handler) { on(.post, pattern, handler) }
    mutating func delete(_ pattern: String, _ handler: @escaping Router.Handler) { on(.delete, pattern, handler) }
}
