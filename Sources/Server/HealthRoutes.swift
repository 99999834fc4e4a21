import HTTP

/// Liveness, readiness and metrics.
enum HealthRoutes {
    static func register(_ router: inout InstrumentedRoutes, context: ServerContext) {
        router.get("/healthz") { _, _ in try .json(object: ["status": "ok"]) }
        router.get("/readyz") { _, _ in
            guard context.loaded.isReady, let active = context.loaded.activeId else {
                return try .json(object: ["status": "loading"], status: .serviceUnavailable)
            }
            return try .json(object: ["status": "ready", "active": active])
        }
        router.get("/metrics") { _, _ in
            context.metrics.queueDepth(context.scheduler.queueDepth)
            let held = context.queryLog.usage
            context.metrics.queryLog(held: held.held, bytes: held.bytes, dropped: held.dropped)
            // Snapshot sizes are measured once each (they never change), so this stays cheap.
            let storage = (try? context.store?.snapshots()).map { snapshots in
                (count: snapshots.count, bytes: snapshots.reduce(0) { $0 + ((try? context.store?.snapshotBytes($1.id)) ?? 0) })
            }
            return .text(context.metrics.render(storage: storage), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
    }
}
