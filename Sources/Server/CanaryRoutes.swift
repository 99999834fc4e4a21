import Foundation
import HTTP

/// `POST /v1/promote` (at once, or as a canary with a share of traffic), `GET`/`DELETE /v1/canary` and
/// `POST /v1/canary/complete`.
enum CanaryRoutes {
    static func register(_ router: inout InstrumentedRoutes, context: ServerContext) {
        router.post("/v1/promote") { request, _ in
            try context.authorizeWrite(request)
            struct Body: Decodable {
                var snapshot: String
                var traffic: Double?
                var shadow: Double?
            }
            let body = try request.decodeJSON(Body.self, maxDepth: context.limits.maxJSONDepth)
            let shadow = body.shadow ?? 0
            let traffic = body.traffic ?? (shadow > 0 ? 0 : 1)
            guard (0 ... 1).contains(shadow), (0 ... 1).contains(traffic), traffic > 0 || shadow > 0 else {
                throw HTTPError.badRequest("traffic (the share of unpinned queries the snapshot answers) and shadow (the share it also answers "
                                           + "unseen, for agreement) are between 0 and 1, and not both 0", code: "invalid_field")
            }
            if traffic == 1 {
                try context.promote(body.snapshot)
                return try .json(object: ["active": body.snapshot])
            }
            let canary = try context.startCanary(candidate: body.snapshot, share: traffic, shadow: shadow)
            return try .json(object: ["canary": canary.json], status: .accepted)
        }
        router.get("/v1/canary") { _, _ in
            try .json(object: ["canary": context.canary.map { $0.json as Any } ?? NSNull(), "decisions": context.canaryDecisions.map(\.json)])
        }
        router.delete("/v1/canary") { request, _ in
            try context.authorizeWrite(request)
            let decision = try decide(.rolledBack, "rolled back by the operator", context: context)
            return try .json(object: ["decision": decision.json])
        }
        router.post("/v1/canary/complete") { request, _ in
            try context.authorizeWrite(request)
            let decision = try decide(.completed, "completed by the operator", context: context)
            guard decision.action == .completed else { throw HTTPError.conflict(decision.reason, code: "not_completed") }
            return try .json(object: ["decision": decision.json, "active": decision.candidate])
        }
    }

    private static func decide(_ action: Canary.Decision.Action, _ reason: String, context: ServerContext) throws -> Canary.Decision {
        guard let canary = context.canary else { throw HTTPError.conflict("no canary is running", code: "no_canary") }
        // What was done: a completion that could not be applied ends rolled back.
        guard let decision = context.finishCanary(canary, canary.decided(action, because: reason)) else {
            throw HTTPError.conflict("the canary was decided meanwhile; see GET /v1/canary", code: "already_decided")
        }
        return decision
    }
}
