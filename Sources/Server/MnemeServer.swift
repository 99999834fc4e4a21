import Foundation
import HTTP
import Logging

/// Settings of `mneme serve`.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port: UInt16 = 8080
    public var dataDirectory: URL
    /// The base model the first snapshot is made from.
    public var modelDirectory: URL
    /// The web page; nil serves none.
    public var publicDirectory: URL?
    public var token: String?
    public var limits = ServerLimits()
    public var httpThreads = 4
    /// Largest number of queries answered in one batch.
    public var maxBatch = 16

    public init(dataDirectory: URL, modelDirectory: URL) {
        self.dataDirectory = dataDirectory
        self.modelDirectory = modelDirectory
    }
}

/// The whole server: HTTP on libmicrohttpd, the inference engine and (with a store) the background tuner.
public final class MnemeServer: Sendable {
    let context: ServerContext
    let http: HTTPServer
    let configuration: ServerConfiguration

    public init(configuration: ServerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        let metrics = ServerMetrics()
        let scheduler = InferenceScheduler(maxBatch: configuration.maxBatch, logger: logger)
        scheduler.onBatch = { size, _ in metrics.batch(size: size) }
        let modelDirectory = configuration.modelDirectory
        let engine = Engine(scheduler: scheduler, logger: logger) { id in
            guard id == "base" else { throw HTTPError.notFound("no snapshot \(id)", code: "snapshot_not_found") }
            return modelDirectory
        }
        context = ServerContext(engine: engine, limits: configuration.limits,
                                authorization: Authorization(token: configuration.token, host: configuration.host),
                                metrics: metrics, logger: logger)
        var http = HTTPServerConfiguration()
        http.host = configuration.host
        http.port = configuration.port
        http.threadPoolSize = configuration.httpThreads
        http.maxBodySize = configuration.limits.maxBodyBytes
        self.http = HTTPServer(configuration: http, router: Routes.makeRouter(context: context, publicDirectory: configuration.publicDirectory),
                               logger: logger)
    }

    /// Loads the active snapshot, then starts answering.
    public func start() throws {
        context.engine.scheduler.start()
        try context.engine.activate("base")
        context.metrics.activeSnapshot("base", previous: nil)
        try http.start()
        context.logger.info("listening on http://\(configuration.host):\(http.port ?? configuration.port)")
    }

    public var port: UInt16? { http.port }

    /// Stops accepting, finishes requests in flight, stops the workers.
    public func stop() {
        http.stop()
        context.engine.scheduler.stop()
    }
}
