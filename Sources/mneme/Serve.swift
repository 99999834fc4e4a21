import ArgumentParser
import Continual
import Foundation
import Logging
import Server

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the API and the web page; tune pushed tasks in the background.")

    @Option(help: "Base model directory. Default: models/default.")
    var model: String?

    @Option(help: "Data directory (tasks, jobs, snapshots).")
    var data: String = "data"

    @Option(help: "Address to listen on. Writes need a token on anything but loopback.")
    var host: String = "127.0.0.1"

    @Option(help: "Port.")
    var port: UInt16 = 8080

    @Option(help: "File whose first line is the bearer token for writes (default: $MNEME_TOKEN).")
    var tokenFile: String?

    @Option(help: "Directory of the web page. Default: public/ next to the working directory or the executable.")
    var publicDirectory: String?

    @Option(help: "all (serve and tune), tuner (the one writer of a shared data directory) or replica (serve only, follow the tuner).")
    var role: String = "all"

    @Option(help: "Strategy for pushes that name none.")
    var defaultStrategy: String = "branchlora"

    @OptionGroup(title: "Learning pushed tasks")
    var learning: LearningOptions

    @Option(help: "Milliseconds the tuner works ahead of its share before it hands the cores to waiting queries: the longest a query waits for tuning (lower: finer turns, more switching).")
    var tuneTurnMs: Int = 5

    @Option(help: "Tuned snapshots to keep on disk (0: all): after each new one the oldest beyond this are deleted, sparing the active one, the rollback target and labelled ones.")
    var keepSnapshots = 0

    @Option(help: "Connections open at once from one client address (0: no limit).")
    var perClientConnections = 256

    @Option(help: "Connections open at once in all.")
    var maxConnections = 512

    @Option(help: "Seconds a connection has to send a request's header fields (a trickle does not extend it; 0: none).")
    var headDeadline = 10

    @Option(help: "Seconds a request has to send its whole body once its headers are in (0: none).")
    var bodyDeadline = 120

    @Option(help: "MiB request bodies may hold together in memory while they arrive (each at most 1 MiB there: larger ones go to disk, see --max-spooled-mb); past it a request gets 503 with Retry-After before its body is read.")
    var maxBufferedMb = 512

    @Option(help: "MiB request bodies over 1 MiB may hold together on disk (<data>/.spool) while they arrive; past it a request gets 503 with Retry-After before its body is read.")
    var maxSpooledMb = 4096

    @Option(help: "Answered queries (image, question, answer) kept in memory so that feedback on them (POST /v1/feedback) becomes a labelled item; the oldest go first.")
    var feedbackKeepQueries = 10_000

    @Option(help: "MiB those kept queries may hold together.")
    var feedbackKeepMb = 256

    @Option(help: "Hours a query is kept for feedback.")
    var feedbackKeepHours = 24.0

    @Option(help: "Corrections (POST /v1/feedback) to the answers routed to one task that start its tuning: a new task for the base model's answers, a revision of a learned task for its own (0: only on demand, POST /v1/tasks/{name}/corrections/tune).")
    var correctionsThreshold = 20

    @Option(help: "On a replica: the tuner's address (http://host:port), where feedback on this replica's answers is sent with the query it judges.")
    var tunerUrl: String?

    @Option(help: "Share of the traffic a snapshot tuned on corrections gets as a canary (0: promoted at once).")
    var feedbackCanary = 0.2

    @Option(help: "The share of the cores tuning keeps under any query load (0–1): while queries wait too, tuning and batches of queries take turns in this proportion.")
    var tuneShare = 0.35

    @Option(name: .customLong("allowed-host"), help: "A host name writes are taken for (repeatable), besides IP addresses, localhost and --host: the name clients and the page use behind a proxy or DNS. Writes for any other Host, or from another site's page, are refused.")
    var allowedHosts: [String] = []

    @Option(help: "Memory for merged task decoders, shared by all snapshots (MiB); the least recently used task is merged again when next asked. A task too large for it is answered with unmerged adapters.")
    var mergedCacheMb: Int = 256

    @Option(help: "Snapshots kept loaded besides the active one (their adapters and selectors; the base weights are shared).")
    var snapshotCache: Int = 8

    @OptionGroup(title: "Engine") var engine: EngineOptions

    func run() throws {
        engine.apply()
        let logger = Logger(label: "mneme")
        let server = try MnemeServer(configuration: try configuration(), logger: logger)
        try server.start()
        ShutdownSignals.wait()
        logger.info("shutting down: finishing requests in flight")
        server.stop()
    }

    /// The server's configuration from the options, each checked; a wrong one is a `ValidationError` naming it.
    func configuration() throws -> ServerConfiguration {
        var configuration = ServerConfiguration(dataDirectory: URL(fileURLWithPath: data), modelDirectory: try DefaultModel.resolve(model))
        guard let role = ServerRole(rawValue: role) else {
            throw ValidationError("--role must be one of \(ServerRole.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard Strategies.names.contains(defaultStrategy) else {
            throw ValidationError("--default-strategy must be one of \(Strategies.names.joined(separator: ", "))")
        }
        configuration.role = role
        configuration.tuner.defaultStrategy = defaultStrategy
        configuration.tuner.learning = learning.settings
        guard tuneTurnMs >= 1 else { throw ValidationError("--tune-turn-ms must be 1 or more") }
        configuration.tuner.turn = .milliseconds(tuneTurnMs)
        guard mergedCacheMb >= 0, snapshotCache >= 0 else { throw ValidationError("--merged-cache-mb and --snapshot-cache must be 0 or more") }
        configuration.mergedCacheBytes = mergedCacheMb << 20
        configuration.allowedHosts = allowedHosts
        guard keepSnapshots >= 0 else { throw ValidationError("--keep-snapshots must be 0 (all) or more") }
        configuration.tuner.keepSnapshots = keepSnapshots
        guard perClientConnections >= 0, maxConnections >= 1, headDeadline >= 0, bodyDeadline >= 0, maxBufferedMb >= 64 else {
            throw ValidationError("--max-connections must be at least 1, --max-buffered-mb at least 64, the others 0 or more")
        }
        configuration.perIPConnectionLimit = perClientConnections
        configuration.connectionLimit = maxConnections
        configuration.headDeadlineSeconds = headDeadline
        configuration.bodyDeadlineSeconds = bodyDeadline
        configuration.maxBufferedBodyBytes = maxBufferedMb << 20
        guard maxSpooledMb >= 0 else { throw ValidationError("--max-spooled-mb must be 0 or more") }
        configuration.maxSpooledBodyBytes = maxSpooledMb << 20
        guard (0 ... 1).contains(tuneShare) else { throw ValidationError("--tune-share must be between 0 and 1") }
        configuration.tuner.minimumShare = tuneShare
        configuration.snapshotCache = snapshotCache
        guard feedbackKeepQueries >= 0, feedbackKeepMb >= 0, feedbackKeepHours >= 0 else {
            throw ValidationError("--feedback-keep-queries, --feedback-keep-mb and --feedback-keep-hours must be 0 or more")
        }
        guard correctionsThreshold >= 0, (0 ..< 1).contains(feedbackCanary) else {
            throw ValidationError("--corrections-threshold must be 0 or more and --feedback-canary at least 0 and below 1")
        }
        configuration.correctionsThreshold = correctionsThreshold
        if let tunerUrl {
            guard let url = URL(string: tunerUrl.contains("://") ? tunerUrl : "http://" + tunerUrl), url.host != nil else {
                throw ValidationError("--tuner-url must be an address like http://tuner:8080")
            }
            configuration.tunerURL = url
        }
        configuration.tuner.feedbackCanaryShare = feedbackCanary
        configuration.feedbackKeepQueries = feedbackKeepQueries
        configuration.feedbackKeepBytes = feedbackKeepMb << 20
        configuration.feedbackKeepTime = .seconds(feedbackKeepHours * 3600)
        configuration.host = host
        configuration.port = port
        configuration.token = try ServerConfiguration.loadToken(file: tokenFile)
        configuration.publicDirectory = publicDirectory.map { URL(fileURLWithPath: $0) } ?? ProjectFiles.find("public")
        return configuration
    }
}

/// Blocks until SIGINT or SIGTERM.
enum ShutdownSignals {
    static func wait() {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let done = DispatchSemaphore(value: 0)
        let sources = [SIGINT, SIGTERM].map { signalNumber in
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { done.signal() }
            source.resume()
            return source
        }
        done.wait()
        sources.forEach { $0.cancel() }
    }
}

/// Files shipped in the repository (models/, public/, scripts/), found from the working directory or the executable.
enum ProjectFiles {
    static func find(_ relative: String) -> URL? {
        var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(relative)]
        var executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0 ..< 4 {
            candidates.append(executable.appendingPathComponent(relative))
            executable.deleteLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) }
    }
}
