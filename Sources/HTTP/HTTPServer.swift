import CMicroHTTPD
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An HTTP/1.1 server on libmicrohttpd that answers every request through a `Router`.
///
/// libmicrohttpd's threads (`threadPoolSize`, see `eventLoop`) only move bytes: a request's
/// body is collected as it arrives, then the connection is suspended and the handler runs on a Swift
/// task, so slow handlers (a model forward) never hold up other connections. Bodies over
/// `maxBodySize` get a 413, decided from `Content-Length` before reading when there is one.
///
/// ```swift
/// let server = HTTPServer(configuration: .init(port: 0), router: router, logger: logger)
/// try server.start()
/// print("listening on", server.port!)
/// ...
/// server.stop()
/// ```
///
/// A server starts once; `stop()` is final.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    private let core: ServerCore
    private let lifecycle = Mutex(Lifecycle())

    private struct Lifecycle: Sendable {
        enum Phase: Sendable { case idle, running(LibMicroHTTPD.Daemon), stopped }
        var phase: Phase = .idle
        var port: UInt16?
    }

    /// Creates a stopped server; `start()` binds and begins serving.
    public init(configuration: HTTPServerConfiguration = .init(), router: Router,
                logger: Logger = Logger(label: "mneme.http")) {
        self.configuration = configuration
        core = ServerCore(router: router, logger: logger, maxBodySize: configuration.maxBodySize,
                          deadlines: ConnectionDeadlines(head: .seconds(configuration.headDeadlineSeconds > 0 ? configuration.headDeadlineSeconds : Int(Int32.max)),
                                                         body: .seconds(configuration.bodyDeadlineSeconds > 0 ? configuration.bodyDeadlineSeconds : Int(Int32.max))),
                          budget: BodyBudget(limit: configuration.maxBufferedBodyBytes),
                          spoolDirectory: configuration.spoolDirectory, spoolThreshold: configuration.spoolThresholdBytes,
                          spoolBudget: BodyBudget(limit: configuration.maxSpooledBodyBytes))
    }

    deinit {
        stop()
    }

    /// The port the server listens on (the chosen one when configured with port 0), while running.
    public var port: UInt16? { lifecycle.withLock { $0.port } }

    /// Between a successful `start()` and `stop()`.
    public var isRunning: Bool {
        lifecycle.withLock { if case .running = $0.phase { true } else { false } }
    }

    /// Requests whose handler has started and whose response is not yet fully sent.
    public var runningRequestCount: Int { core.runningCount }

    /// Request states alive in memory (tests use it to show nothing leaks).
    var liveRequestContextCount: Int { core.liveContexts.value.load(ordering: .relaxed) }

    /// Binds and starts serving. Throws `HTTPServerError` for a bad configuration, a host that is not
    /// an IP address, a second start, or when libmicrohttpd cannot start (e.g. the port is taken).
    public func start() throws(HTTPServerError) {
        try lifecycle.withLock { (life: inout Lifecycle) throws(HTTPServerError) in
            guard case .idle = life.phase else { throw .alreadyStarted }
            if let problem = configuration.validationProblem { throw .invalidConfiguration(problem) }
            guard let address = SocketAddress(host: configuration.host, port: configuration.port) else {
                throw .invalidHost(configuration.host)
            }
            // libmicrohttpd's own threads already block SIGPIPE; ignoring it process-wide also covers
            // sockets written from other threads.
            signal(SIGPIPE, SIG_IGN)
            guard let daemon = startDaemon(address) else {
                let reason = core.lastLibraryMessage.withLock { $0 }?.trimmingCharacters(in: .whitespacesAndNewlines)
                throw .startFailed(host: configuration.host, port: configuration.port,
                                   reason: reason ?? "libmicrohttpd did not start (is the port in use?)")
            }
            life.phase = .running(LibMicroHTTPD.Daemon(pointer: daemon))
            life.port = LibMicroHTTPD.boundPort(of: daemon) ?? configuration.port
            core.deadlines.start()
            core.logger.info("listening on \(configuration.host):\(life.port!)")
        }
    }

    /// Stops gracefully and returns when the server is down: refuses new connections, answers new
    /// requests on open connections with 503, waits up to `shutdownGracePeriod` for running handlers
    /// to finish and their responses to be sent, answers any still running with 503 (cancelling
    /// their tasks), then shuts libmicrohttpd down. Does nothing if the server is not running.
    ///
    /// This blocks the calling thread while waiting; from async code prefer a thread of your own
    /// over a cooperative-pool thread, which handlers need to finish.
    public func stop() {
        let daemon: LibMicroHTTPD.Daemon? = lifecycle.withLock { life in
            guard case .running(let daemon) = life.phase else { return nil }
            life.phase = .stopped
            return daemon
        }
        guard let daemon else { return }
        core.beginStopping()
        // Stop accepting; existing connections go on. The quiesced socket may not be closed before
        // MHD_stop_daemon, but shutting it down stops the kernel from completing new handshakes
        // (clients are refused instead of waiting in the backlog) and leaves the descriptor valid.
        let listener = MHD_quiesce_daemon(daemon.pointer)
        if listener >= 0 { shutdown(listener, Int32(SHUT_RDWR)) }

        if !waitForRunningRequests(upTo: configuration.shutdownGracePeriod) {
            core.abandonRunningHandlers()
            // Give the 503s a moment to go out; MHD_stop_daemon closes whatever is left.
            _ = waitForRunningRequests(upTo: .seconds(1))
        }
        // No request is suspended now (every dispatched one was resumed), as MHD_stop_daemon requires.
        MHD_stop_daemon(daemon.pointer)
        core.deadlines.stop()
        if listener >= 0 { close(listener) }  // a quiesced listening socket is ours to close
        lifecycle.withLock { $0.port = nil }
        core.logger.info("stopped")
    }

    private func waitForRunningRequests(upTo limit: Duration) -> Bool {
        let deadline = ContinuousClock.now + limit
        while core.runningCount > 0 {
            if ContinuousClock.now >= deadline { return false }
            usleep(2_000)
        }
        return true
    }

    // MARK: Starting libmicrohttpd

    private func startDaemon(_ address: SocketAddress) -> OpaquePointer? {
        let configuration = self.configuration
        let coreContext = Unmanaged.passUnretained(core).toOpaque()  // `core` outlives the daemon

        let log: MHD_LogCallback = { context, format, arguments in
            guard let context, let format, let arguments else { return }
            var buffer = [CChar](repeating: 0, count: 1024)
            _ = vsnprintf(&buffer, buffer.count, format, arguments)
            let core = Unmanaged<ServerCore>.fromOpaque(context).takeUnretainedValue()
            let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            core.lastLibraryMessage.withLock { $0 = message }
            core.logger.notice("libmicrohttpd: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let completed: MHD_RequestCompletedCallback = { context, connection, requestSlot, termination in
            guard let context else { return }
            Unmanaged<ServerCore>.fromOpaque(context).takeUnretainedValue()
                .handleCompleted(connection: connection, requestSlot: requestSlot, termination: termination)
        }
        let notify: MHD_NotifyConnectionCallback = { context, connection, _, code in
            guard let context, let connection else { return }
            let deadlines = Unmanaged<ServerCore>.fromOpaque(context).takeUnretainedValue().deadlines
            if code == .CONNECTION_NOTIFY_STARTED { deadlines.opened(connection) } else { deadlines.closed(connection) }
        }
        let access: MHD_AccessHandlerCallback = { context, connection, url, method, _, data, size, requestSlot in
            guard let context, let connection, let size, let requestSlot else { return .NO }
            return Unmanaged<ServerCore>.fromOpaque(context).takeUnretainedValue().handleAccess(
                connection: connection, url: url, method: method, uploadData: data,
                uploadDataSize: size, requestSlot: requestSlot)
        }

        return address.withSockaddrPointer { sockaddr in
            var options: [MHD_OptionItem] = [
                // The logger first, so start-up errors reach it.
                MHD_OptionItem(option: .EXTERNAL_LOGGER, value: unsafeBitCast(log, to: Int.self), ptr_value: coreContext),
                MHD_OptionItem(option: .NOTIFY_COMPLETED, value: unsafeBitCast(completed, to: Int.self),
                               ptr_value: coreContext),
                MHD_OptionItem(option: .NOTIFY_CONNECTION, value: unsafeBitCast(notify, to: Int.self), ptr_value: coreContext),
                MHD_OptionItem(option: .SOCK_ADDR, value: 0, ptr_value: sockaddr),
                MHD_OptionItem(option: .CONNECTION_LIMIT, value: configuration.connectionLimit, ptr_value: nil),
                MHD_OptionItem(option: .PER_IP_CONNECTION_LIMIT, value: configuration.perIPConnectionLimit, ptr_value: nil),
                MHD_OptionItem(option: .CONNECTION_TIMEOUT, value: configuration.connectionTimeoutSeconds, ptr_value: nil),
                MHD_OptionItem(option: .CONNECTION_MEMORY_LIMIT, value: configuration.connectionMemoryLimit, ptr_value: nil),
                MHD_OptionItem(option: .STRICT_FOR_CLIENT, value: Int(configuration.strictness.rawValue), ptr_value: nil),
            ]
            if configuration.threadPoolSize > 1 {
                options.append(MHD_OptionItem(option: .THREAD_POOL_SIZE, value: configuration.threadPoolSize, ptr_value: nil))
            }
            options.append(MHD_OptionItem(option: .END, value: 0, ptr_value: nil))

            var flags = MHD_USE_ERROR_LOG.rawValue | MHD_USE_INTERNAL_POLLING_THREAD.rawValue
                | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_USE_ITC.rawValue
            switch configuration.eventLoop {
            case .poll: flags |= MHD_USE_POLL.rawValue
            case .automatic: flags |= MHD_USE_AUTO.rawValue
            }
            if address.isIPv6 { flags |= MHD_USE_IPv6.rawValue }

            // MHD_start_daemon is variadic; its va_list twin takes the options as one MHD_OPTION_ARRAY.
            return options.withUnsafeMutableBufferPointer { items in
                withVaList([MHD_OPTION.ARRAY.rawValue, OpaquePointer(items.baseAddress!), MHD_OPTION.END.rawValue]) { arguments in
                    MHD_start_daemon_va(flags, configuration.port, nil, nil, access, coreContext, arguments)
                }
            }
        }
    }
}
