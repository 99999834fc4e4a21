/// Settings of `HTTPServer`. The defaults suit a loopback or small-LAN deployment.
public struct HTTPServerConfiguration: Sendable {
    /// How strictly libmicrohttpd checks clients' HTTP (`MHD_OPTION_STRICT_FOR_CLIENT`).
    public enum ProtocolStrictness: Int32, Sendable {
        /// Accept as much as possible (e.g. spaces in header names).
        case tolerant = -1
        /// libmicrohttpd's default; its manual recommends this in production.
        case normal = 0
        /// Reject HTTP/1.1 requests without `Host` and URLs with spaces; for testing clients.
        case strict = 1
    }

    /// How libmicrohttpd's threads wait for socket events.
    public enum EventLoop: Sendable {
        /// `poll()`. The default: libmicrohttpd 0.9.75's edge-triggered epoll does not watch for
        /// the peer's close (no `EPOLLRDHUP`), so a client that disconnects right after its last
        /// bytes — an aborted upload — is only noticed at the connection timeout, its partial body
        /// held until then. poll is level-triggered and notices at once; with hundreds rather than
        /// tens of thousands of connections its cost does not matter.
        case poll
        /// `MHD_USE_AUTO`: the best mechanism libmicrohttpd knows (epoll on Linux).
        case automatic
    }

    /// IPv4 or IPv6 address to bind (`127.0.0.1`, `0.0.0.0`, `::1`, `::`); `localhost` means
    /// `127.0.0.1`. Host names are not resolved.
    public var host: String = "127.0.0.1"
    /// TCP port; 0 picks a free one (read it from `HTTPServer.port` after `start()`).
    public var port: UInt16 = 8080
    /// libmicrohttpd polling threads. They only move bytes — handlers run on Swift tasks — so a few
    /// are plenty.
    public var threadPoolSize: Int = 2
    /// Connections open at once; at the limit new ones wait in the kernel's listen backlog.
    public var connectionLimit: Int = 512
    /// Connections open at once from one IP address; 0 means no limit.
    public var perIPConnectionLimit: Int = 256
    /// Seconds a connection has to send a request's header fields, from opening or from its previous
    /// response; unlike the idle timeout, a trickle of bytes does not extend it. 0: no deadline.
    public var headDeadlineSeconds: Int = 10
    /// Seconds a request has to send its whole body once its header fields are in. 0: no deadline.
    public var bodyDeadlineSeconds: Int = 120
    /// Bytes all buffered request bodies may hold together; a body that would pass it gets 503 with
    /// `Retry-After` before it is read.
    public var maxBufferedBodyBytes: Int = 512 << 20
    /// Where bodies larger than `spoolThresholdBytes` are written while they arrive, instead of memory
    /// (files without a name, gone when the request is). nil: every body is held in memory.
    public var spoolDirectory: String?
    /// Bodies up to this size are held in memory while they arrive.
    public var spoolThresholdBytes: Int = 1 << 20
    /// Bytes all spooled bodies may hold together on disk; a body that would pass it gets 503 with
    /// `Retry-After` before it is read.
    public var maxSpooledBodyBytes: Int = 4 << 30
    /// Seconds a connection may be idle (between requests, or mid-request) before it is closed.
    /// A request whose handler is running is never timed out.
    public var connectionTimeoutSeconds: Int = 30
    /// libmicrohttpd's per-connection buffer (request line, header fields, body chunks in transit).
    /// It bounds the header size, not the body size.
    public var connectionMemoryLimit: Int = 64 * 1024
    /// Largest request body accepted, in bytes; larger ones get a 413.
    public var maxBodySize: Int = 32 * 1024 * 1024
    /// How long `stop()` waits for running handlers before answering them with 503.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// `MHD_OPTION_STRICT_FOR_CLIENT`; libmicrohttpd's manual recommends `.normal` in production.
    public var strictness: ProtocolStrictness = .normal
    /// poll by default; see `EventLoop`.
    public var eventLoop: EventLoop = .poll

    public init(
        host: String = "127.0.0.1",
        port: UInt16 = 8080,
        threadPoolSize: Int = 2,
        connectionLimit: Int = 512,
        perIPConnectionLimit: Int = 256,
        connectionTimeoutSeconds: Int = 30,
        connectionMemoryLimit: Int = 64 * 1024,
        maxBodySize: Int = 32 * 1024 * 1024,
        shutdownGracePeriod: Duration = .seconds(10),
        strictness: ProtocolStrictness = .normal,
        eventLoop: EventLoop = .poll
    ) {
        self.host = host
        self.port = port
        self.threadPoolSize = threadPoolSize
        self.connectionLimit = connectionLimit
        self.perIPConnectionLimit = perIPConnectionLimit
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.connectionMemoryLimit = connectionMemoryLimit
        self.maxBodySize = maxBodySize
        self.shutdownGracePeriod = shutdownGracePeriod
        self.strictness = strictness
        self.eventLoop = eventLoop
    }

    /// Why the configuration cannot work, or nil.
    var validationProblem: String? {
        if threadPoolSize < 1 { return "threadPoolSize must be at least 1" }
        if connectionLimit < 1 { return "connectionLimit must be at least 1" }
        if perIPConnectionLimit < 0 { return "perIPConnectionLimit must not be negative" }
        if connectionTimeoutSeconds < 0 { return "connectionTimeoutSeconds must not be negative" }
        if connectionMemoryLimit < 4096 { return "connectionMemoryLimit must be at least 4096 bytes" }
        if maxBodySize < 0 { return "maxBodySize must not be negative" }
        if headDeadlineSeconds < 0 || bodyDeadlineSeconds < 0 { return "deadlines must not be negative" }
        if spoolDirectory == nil, maxBufferedBodyBytes < maxBodySize { return "maxBufferedBodyBytes must hold at least one largest body" }
        if spoolDirectory != nil, maxBufferedBodyBytes < min(spoolThresholdBytes, maxBodySize) || maxSpooledBodyBytes < maxBodySize {
            return "maxBufferedBodyBytes must hold one body of spoolThresholdBytes, and maxSpooledBodyBytes one largest body"
        }
        return nil
    }
}

/// Why `HTTPServer.start()` failed.
public enum HTTPServerError: Error, Sendable, CustomStringConvertible, Equatable {
    case invalidConfiguration(String)
    /// `host` is not an IPv4/IPv6 address.
    case invalidHost(String)
    /// `start()` was called on a server that is running or has been stopped.
    case alreadyStarted
    /// libmicrohttpd refused to start; `reason` is its last log message (e.g. the bind error).
    case startFailed(host: String, port: UInt16, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let problem): "invalid HTTP server configuration: \(problem)"
        case .invalidHost(let host): "cannot listen on \"\(host)\": not an IPv4 or IPv6 address"
        case .alreadyStarted: "the HTTP server was already started (a server starts once)"
        case .startFailed(let host, let port, let reason):
            "cannot start the HTTP server on \(host):\(port): \(reason)"
        }
    }
}
