import Foundation
import HTTP
import LLaVA
import Logging
import Store
import Synchronization

/// What a process does with the data directory.
public enum ServerRole: String, Sendable, CaseIterable {
    /// Serve and tune (one process on one machine).
    case all
    /// Serve and tune; the one writer of a shared data directory.
    case tuner
    /// Serve only, from a shared data directory; follow the tuner's promotions.
    case replica
}

/// Settings of `mneme serve`.
public struct ServerConfiguration: Sendable {
    public var role = ServerRole.all
    public var host = "127.0.0.1"
    public var port: UInt16 = 8080
    public var dataDirectory: URL
    /// The base model the first snapshot is made from.
    public var modelDirectory: URL
    /// The web page; nil serves none.
    public var publicDirectory: URL?
    public var token: String?
    /// Host names writes are taken for besides IP addresses, `localhost` and `host` (a proxy's or DNS name).
    public var allowedHosts: [String] = []
    public var limits = ServerLimits()
    public var tuner = TunerSettings()
    public var httpThreads = 4
    /// Connection budgets (`HTTPServerConfiguration`): all and per client address, the deadlines for a
    /// request's header fields and body, and the memory all buffered bodies may hold together.
    public var connectionLimit = 512
    public var perIPConnectionLimit = 256
    public var headDeadlineSeconds = 10
    public var bodyDeadlineSeconds = 120
    public var maxBufferedBodyBytes = 512 << 20
    /// Bodies over 1 MiB are written to `<data>/.spool` as they arrive (`BodySpool`), up to this many bytes together.
    public var maxSpooledBodyBytes = 4 << 30
    /// Answered queries kept in memory so that feedback on them can become labelled items (`QueryLog`).
    public var feedbackKeepQueries = 10_000
    public var feedbackKeepBytes = 256 << 20
    public var feedbackKeepTime: Duration = .seconds(24 * 3600)
    /// Corrections to the base model's answers that start a task of their own (0: only on demand).
    public var correctionsThreshold = 20
    /// On a replica: the tuner's address, where feedback on this replica's answers is sent.
    public var tunerURL: URL?
    /// Memory for merged task decoders (`MergedWeights`), shared by every snapshot.
    public var mergedCacheBytes = 256 << 20
    /// Snapshots kept loaded besides the active one.
    public var snapshotCache = 8
    /// Largest number of queries answered in one batch.
    public var maxBatch = 16
    /// How often a replica looks for a new active snapshot.
    public var registryPollInterval: Duration = .milliseconds(500)

    public init(dataDirectory: URL, modelDirectory: URL) {
        self.dataDirectory = dataDirectory
        self.modelDirectory = modelDirectory
    }
}

/// The whole server: HTTP on libmicrohttpd, the loaded snapshots and the batch scheduler, the store and (unless a replica) the tuner.
public final class MnemeServer: Sendable {
    let context: ServerContext
    let http: HTTPServer
    let configuration: ServerConfiguration
    private let watcherStop = Mutex(false)
    /// Held by a writing server for its whole life.
    private let lock: ServeLock?

    public init(configuration: ServerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        let metrics = ServerMetrics()
        let scheduler = InferenceScheduler(maxBatch: configuration.maxBatch,
                                           turns: CPUTurns(share: configuration.tuner.minimumShare, turn: configuration.tuner.turn), logger: logger)
        scheduler.onBatch = { size, _ in metrics.batch(size: size) }
        if configuration.role == .replica, !FileManager.default.fileExists(atPath: configuration.dataDirectory.path) {
            throw ServerError.configuration("a replica needs the tuner's data directory; \(configuration.dataDirectory.path) does not exist")
        }
        // Nothing is created while the port is taken, and one writer per data directory.
        if let problem = PortCheck.problem(host: configuration.host, port: configuration.port) { throw ServerError.configuration(problem) }
        lock = configuration.role == .replica ? nil : try ServeLock(dataDirectory: configuration.dataDirectory)
        let store = try Store(directory: configuration.dataDirectory, mode: configuration.role == .replica ? .readOnly : .readWrite,
                              logger: logger)
        MergedWeights.shared.budgetBytes = configuration.mergedCacheBytes
        let loaded = LoadedSnapshots(capacity: configuration.snapshotCache + 1, logger: logger) { id in
            guard StoreID.isValid(id), let directory = try? store.snapshotDirectory(id) else {
                throw HTTPError.notFound("no snapshot \(id)", code: "snapshot_not_found")
            }
            return directory
        }
        context = ServerContext(loaded: loaded, scheduler: scheduler, store: store, role: configuration.role, limits: configuration.limits,
                                authorization: Authorization(token: configuration.token, host: configuration.host, allowedHosts: configuration.allowedHosts),
                                metrics: metrics, logger: logger, tunerSettings: configuration.tuner,
                                queryLog: QueryLog(limits: .init(entries: configuration.feedbackKeepQueries, bytes: configuration.feedbackKeepBytes,
                                                                 age: configuration.feedbackKeepTime)),
                                correctionsThreshold: configuration.correctionsThreshold, tunerURL: configuration.tunerURL)
        var http = HTTPServerConfiguration()
        http.host = configuration.host
        http.port = configuration.port
        http.threadPoolSize = configuration.httpThreads
        http.maxBodySize = configuration.limits.maxBodyBytes
        http.connectionLimit = configuration.connectionLimit
        http.perIPConnectionLimit = configuration.perIPConnectionLimit
        http.headDeadlineSeconds = configuration.headDeadlineSeconds
        http.bodyDeadlineSeconds = configuration.bodyDeadlineSeconds
        http.spoolDirectory = Self.spoolDirectory(in: configuration.dataDirectory, logger: logger)
        // Without a spool every body is held in memory: the budget must take the largest.
        http.maxBufferedBodyBytes = http.spoolDirectory == nil ? max(configuration.maxBufferedBodyBytes, configuration.limits.maxBodyBytes)
            : configuration.maxBufferedBodyBytes
        http.maxSpooledBodyBytes = configuration.maxSpooledBodyBytes
        self.http = HTTPServer(configuration: http, router: Routes.makeRouter(context: context, publicDirectory: configuration.publicDirectory),
                               logger: logger)
    }

    /// `<data>/.spool`, emptied of anything a crash left between making a spool file and unlinking it; nil
    /// (bodies stay in memory) where it cannot be made, as on a replica's read-only volume.
    private static func spoolDirectory(in data: URL, logger: Logger) -> String? {
        let directory = data.appendingPathComponent(".spool")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name.hasPrefix("body-") {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            }
            return directory.path
        } catch {
            logger.notice("request bodies stay in memory: no spool directory (\(error.localizedDescription))")
            return nil
        }
    }

    /// Loads the active snapshot (importing the base model on first start), starts the tuner, then listens.
    public func start() throws {
        let store = try context.requireStore()
        context.scheduler.start()
        var registry = try store.registry()
        if configuration.role == .replica {
            guard let active = registry.active else {
                throw ServerError.configuration("the data directory has no active snapshot yet; start the tuner first")
            }
            try context.loaded.activate(active)
            startRegistryWatcher()
        } else {
            let baseId = try BaseSnapshot.ensure(store: store, model: configuration.modelDirectory, logger: context.logger)
            registry = try store.registry()
            if registry.active == nil { registry = try store.promote(baseId) }
            try context.loaded.activate(registry.active!)
            let tuner = Tuner(store: store, loaded: context.loaded, turns: context.scheduler.turns, baseSnapshotId: baseId, settings: context.tunerSettings,
                              metrics: context.metrics, logger: context.logger)
            tuner.startCanary = { [context] id, share, parent in _ = try context.startCanary(candidate: id, share: share, against: parent) }
            // A canary left running by the last process goes on, if it still compares what is active.
            if let canary = registry.canary, canary.active == registry.active { context.followCanary(canary) } else if registry.canary != nil {
                try store.setCanary(nil)
            }
            context.tuner = tuner
            tuner.start()
            noteAdapterSettings()
        }
        context.metrics.activeSnapshot(registry.active!, previous: nil)
        try http.start()
        context.logger.info("\(configuration.role.rawValue): listening on http://\(configuration.host):\(http.port ?? configuration.port), active snapshot \(registry.active!)")
    }

    /// New BranchLoRA tasks continue the active snapshot's adapters, whose rank, own rank and targets were fixed
    /// when its first task was learned; say so when they differ from the options, which then apply only to a
    /// data directory without adapters (a directory made before the own pair keeps own rank 0).
    private func noteAdapterSettings() {
        guard let adapters = try? context.loaded.active().snapshot.adapters, adapters.settings.kind == .branchLora else { return }
        let existing = adapters.settings, wanted = context.tunerSettings.learning.adapter
        guard existing.rank != wanted.rank || existing.ownRank != wanted.ownRank || existing.targets != wanted.targets else { return }
        context.logger.notice("""
            new BranchLoRA tasks continue the active snapshot's adapters: rank \(existing.rank), own rank \(existing.ownRank), \
            \(existing.targets.count) projections (the options say rank \(wanted.rank), own rank \(wanted.ownRank), \
            \(wanted.targets.count) projections; they apply where no snapshot has adapters yet)
            """)
    }

    public var port: UInt16? { http.port }
    public var activeSnapshot: String? { context.loaded.activeId }

    /// Stops accepting, finishes requests in flight, stops the workers (a job in progress is re-queued on the
    /// next start).
    public func stop() {
        watcherStop.withLock { $0 = true }
        context.tuner?.stop()
        http.stop()
        context.scheduler.stop()
    }

    /// Replicas poll `registry.json` and hot-swap when the tuner promotes or rolls back.
    private func startRegistryWatcher() {
        let directory = configuration.dataDirectory, interval = configuration.registryPollInterval
        let loaded = context.loaded, logger = context.logger, metrics = context.metrics
        let thread = Thread { [self] in
            var watcher = RegistryWatcher(directory: directory)
            while !self.watcherStop.withLock({ $0 }) {
                do {
                    if let registry = try watcher.poll() {
                        if let active = registry.active, active != loaded.activeId {
                            let previous = loaded.activeId
                            try loaded.activate(active)
                            metrics.activeSnapshot(active, previous: previous)
                        }
                        self.context.followCanary(registry.canary)
                    }
                } catch {
                    // Forget what was seen, so the next poll tries the swap again.
                    watcher = RegistryWatcher(directory: directory)
                    logger.warning("registry watch: \(error); retrying")
                }
                Thread.sleep(forTimeInterval: Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18)
            }
        }
        thread.name = "mneme-registry-watch"
        thread.start()
    }
}
