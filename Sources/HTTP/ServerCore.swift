import CMicroHTTPD
import Foundation
import Logging
import Synchronization

/// The part of `HTTPServer` that libmicrohttpd calls back into (through an unretained pointer that
/// outlives the daemon).
///
/// Per request, the access handler is called: once with the header fields (we check the declared
/// body size and answer 413 at once, without reading the body); once per body chunk (we consume it,
/// storing up to the limit); and, with the request complete, once more — there we suspend the
/// connection and run the router on a Swift task, so no handler ever occupies an MHD thread. The task
/// stores its response and resumes the connection; libmicrohttpd then calls the access handler
/// again, which queues the response (queueing happens only inside the access handler).
final class ServerCore: Sendable {
    struct State: Sendable {
        var stopping = false
        /// Suspended requests whose handler runs, by context identity.
        var suspended: [ObjectIdentifier: RequestContext] = [:]
        /// Requests handed to a handler and not yet completed (suspended, or sending the answer).
        var running = 0
    }

    let router: Router
    let logger: Logger
    let maxBodySize: Int
    let state = Mutex(State())
    let liveContexts = LiveCount()
    /// libmicrohttpd's latest log line, reported when the daemon fails to start.
    let lastLibraryMessage = Mutex<String?>(nil)

    /// After a chunked body passes the limit, this many more bytes are read and dropped so the
    /// client can still be told 413; a client sending more is disconnected.
    static let overLimitDrainAllowance = 1 << 20

    let deadlines: ConnectionDeadlines
    /// Bodies held in memory while they arrive.
    let budget: BodyBudget
    /// Where bodies beyond `spoolThreshold` are written as they arrive (nil: every body stays in memory),
    /// and the bytes they may hold there together.
    let spoolDirectory: String?
    let spoolThreshold: Int
    let spoolBudget: BodyBudget

    init(router: Router, logger: Logger, maxBodySize: Int, deadlines: ConnectionDeadlines, budget: BodyBudget,
         spoolDirectory: String? = nil, spoolThreshold: Int = 1 << 20, spoolBudget: BodyBudget = BodyBudget(limit: 0)) {
        self.router = router
        self.logger = logger
        self.maxBodySize = maxBodySize
        self.deadlines = deadlines
        self.budget = budget
        self.spoolDirectory = spoolDirectory
        self.spoolThreshold = spoolThreshold
        self.spoolBudget = spoolBudget
    }

    /// 503 for a body the buffered-body budget cannot take now.
    static let overBudget = HTTPError(.serviceUnavailable, code: "server_busy",
                                      message: "the server is receiving too many large requests at once; retry shortly",
                                      headers: ["Retry-After": "2"]).response

    // MARK: Access handler

    func handleAccess(
        connection: OpaquePointer,
        url: UnsafePointer<CChar>?,
        method: UnsafePointer<CChar>?,
        uploadData: UnsafePointer<CChar>?,
        uploadDataSize: UnsafeMutablePointer<Int>,
        requestSlot: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    ) -> MHD_Result {
        guard let raw = requestSlot.pointee else {
            let context = RequestContext(head: readHead(connection, url: url, method: method), liveCount: liveContexts)
            requestSlot.pointee = Unmanaged.passRetained(context).toOpaque()
            return begin(context, connection)
        }
        let context = Unmanaged<RequestContext>.fromOpaque(raw).takeUnretainedValue()
        if uploadDataSize.pointee > 0 {
            let chunk = UnsafeRawBufferPointer(start: uploadData, count: uploadDataSize.pointee)
            uploadDataSize.pointee = 0
            return receive(chunk, into: context)
        }
        return complete(context, connection)
    }

    /// First call: header fields only. Refuses early what can be refused early.
    private func begin(_ context: RequestContext, _ connection: OpaquePointer) -> MHD_Result {
        if state.withLock({ $0.stopping }) {
            return answer(context, HTTPError.serviceUnavailable("server is shutting down", code: "shutting_down").response,
                          on: connection, close: true)
        }
        if let declared = context.head.headers["Content-Length"].flatMap(UInt64.init), declared > UInt64(maxBodySize) {
            // Queued before any body byte is read: libmicrohttpd skips the body and closes after the
            // answer; a client that sent `Expect: 100-continue` never sends it.
            return answer(context, HTTPError.contentTooLarge(limit: maxBodySize).response, on: connection, close: true)
        }
        if let declared = context.head.headers["Content-Length"].flatMap(Int.init), declared > 0 {
            if let spoolDirectory, declared > spoolThreshold {
                // Too large to hold in memory while it arrives: to disk, within the spool budget.
                guard spoolBudget.reserve(declared) else { return answer(context, Self.overBudget, on: connection, close: true) }
                guard let spool = BodySpool(directory: spoolDirectory) else {
                    spoolBudget.release(declared)
                    logger.error("cannot make a spool file in \(spoolDirectory): \(String(cString: strerror(errno)))")
                    return answer(context, Self.overBudget, on: connection, close: true)
                }
                context.state.withLock {
                    $0.spool = spool
                    $0.spooledReserved = declared
                }
            } else {
                guard budget.reserve(declared) else { return answer(context, Self.overBudget, on: connection, close: true) }
                context.state.withLock { $0.reserved = declared }
            }
        }
        deadlines.enter(.receivingBody, on: connection)
        return .YES
    }

    /// A body chunk: stored while within the limit (in memory up to `spoolThreshold`, then on disk), dropped after it.
    private func receive(_ chunk: UnsafeRawBufferPointer, into context: RequestContext) -> MHD_Result {
        let keepReading = context.state.withLock { state -> Bool in
            let stored = state.spool?.count ?? state.body.count
            if !state.overLimit && stored + chunk.count <= maxBodySize {
                if state.spool == nil, let spoolDirectory, stored + chunk.count > spoolThreshold {
                    // A body without Content-Length that has outgrown memory moves to disk.
                    guard let spool = BodySpool(directory: spoolDirectory), spool.append(state.body) else {
                        state.spoolFailed = true
                        state.body = Data()
                        return false
                    }
                    state.spool = spool
                    state.body = Data()
                    // Its memory reservation goes back: from here the body holds disk.
                    budget.release(state.reserved)
                    state.reserved = 0
                }
                if let spool = state.spool {
                    let needed = spool.count + chunk.count - state.spooledReserved
                    if needed > 0 {
                        guard spoolBudget.reserve(needed) else {
                            state.overBudget = true
                            state.spool = nil
                            return false
                        }
                        state.spooledReserved += needed
                    }
                    guard spool.append(chunk) else {
                        state.spoolFailed = true
                        state.spool = nil
                        return false
                    }
                    return true
                }
                // A body without Content-Length reserves its budget as it arrives.
                let needed = state.body.count + chunk.count - state.reserved
                if needed > 0 {
                    guard budget.reserve(needed) else {
                        state.overBudget = true
                        state.body = Data()
                        return false
                    }
                    state.reserved += needed
                }
                state.body.append(contentsOf: chunk)
                return true
            }
            // Only a body without Content-Length (chunked) gets here: queueing a response is not
            // allowed mid-body, so drop what arrives and answer 413 once it ends, unless it goes on.
            state.overLimit = true
            state.body = Data()
            state.spool = nil
            state.discardedBytes += chunk.count
            return state.discardedBytes <= Self.overLimitDrainAllowance
        }
        if !keepReading {
            let reason = context.state.withLock { state in
                state.spoolFailed ? "the spool file could not be written" : state.overBudget ? "over the buffered-body budget" : "far over the limit"
            }
            logger.notice("closing connection: body of \(context.head.method) \(context.head.path) \(reason)")
        }
        return keepReading ? .YES : .NO
    }

    /// The request is complete: run the handler, or queue the response it produced.
    private func complete(_ context: RequestContext, _ connection: OpaquePointer) -> MHD_Result {
        enum Step { case dispatch(Data), queue(HTTPResponse), tooLarge, wait }
        let step = context.state.withLock { state -> Step in
            switch state.phase {
            case .receiving:
                if state.overLimit { return .tooLarge }
                if let spool = state.spool {
                    state.spool = nil
                    guard let body = spool.body() else {
                        return .queue(HTTPError(.internalServerError, code: "internal_error", message: "the request body could not be read back").response)
                    }
                    return .dispatch(body)
                }
                let body = state.body
                state.body = Data()
                return .dispatch(body)
            case .ready(let response):
                return .queue(response)
            case .running, .answered:
                return .wait  // not expected: a suspended connection is not processed
            }
        }
        switch step {
        case .dispatch(let body):
            return dispatch(context, body: body, connection)
        case .queue(let response):
            return answer(context, response, on: connection, close: state.withLock { $0.stopping })
        case .tooLarge:
            return answer(context, HTTPError.contentTooLarge(limit: maxBodySize).response, on: connection)
        case .wait:
            return .YES
        }
    }

    private func dispatch(_ context: RequestContext, body: Data, _ connection: OpaquePointer) -> MHD_Result {
        deadlines.enter(.handling, on: connection)
        var request = context.head
        request.body = body
        // The socket stays open while the connection is suspended, so the handler may look at it.
        if let socket = LibMicroHTTPD.socket(of: connection) { request.clientHasGone = { PeerSocket.hasClosed(socket) } }
        let handle = LibMicroHTTPD.Connection(pointer: connection)
        MHD_suspend_connection(connection)
        // Registered after suspending, so that whoever resumes (the task or stop()) finds the
        // connection suspended; stop() may have begun meanwhile, in which case we resume at once.
        let registered = state.withLock { core -> Bool in
            guard !core.stopping else { return false }
            core.suspended[ObjectIdentifier(context)] = context
            core.running += 1
            context.state.withLock {
                $0.phase = .running(handle)
                $0.dispatched = true
            }
            return true
        }
        guard registered else {
            let refusal = HTTPError.serviceUnavailable("server is shutting down", code: "shutting_down").response
            context.state.withLock { $0.phase = .ready(refusal) }
            MHD_resume_connection(connection)
            return .YES
        }
        let task = Task { [self] in
            let response = await router.respond(to: request)
            resume(context, with: response)
        }
        context.state.withLock { state in
            if case .running = state.phase { state.task = task }  // kept for cancellation by stop()
        }
        return .YES
    }

    /// Stores `response` and resumes the connection, unless stop() already answered it.
    func resume(_ context: RequestContext, with response: HTTPResponse) {
        state.withLock { core in
            // Under the core lock so stop() cannot call MHD_stop_daemon between check and resume.
            guard core.suspended.removeValue(forKey: ObjectIdentifier(context)) != nil else { return }
            let connection = context.state.withLock { state -> LibMicroHTTPD.Connection? in
                guard case .running(let connection) = state.phase else { return nil }
                state.phase = .ready(response)
                state.task = nil
                return connection
            }
            if let connection { MHD_resume_connection(connection.pointer) }
        }
    }

    /// Queues `response`; only valid inside the access handler.
    private func answer(_ context: RequestContext, _ response: HTTPResponse, on connection: OpaquePointer,
                        close: Bool = false) -> MHD_Result {
        context.state.withLock { $0.phase = .answered(response.status) }
        let created = response.body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress),
                                            .RESPMEM_MUST_COPY)
        }
        guard let created else {
            logger.error("libmicrohttpd could not create a response of \(response.body.count) bytes")
            return .NO
        }
        defer { MHD_destroy_response(created) }
        for header in response.headers where !HTTPHeaders.sameName(header.name, "Content-Length") {
            if MHD_add_response_header(created, header.name, header.value) != .YES {
                logger.warning("libmicrohttpd refused response header \(header.name): \(header.value)")
            }
        }
        if close { _ = MHD_add_response_header(created, "Connection", "close") }
        return MHD_queue_response(connection, UInt32(response.status.code), created)
    }

    // MARK: Completion

    /// libmicrohttpd is done with the request (answered, aborted, timed out or shut down).
    func handleCompleted(connection: OpaquePointer?, requestSlot: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                         termination: MHD_RequestTerminationCode) {
        guard let requestSlot, let raw = requestSlot.pointee else { return }
        requestSlot.pointee = nil
        let context = Unmanaged<RequestContext>.fromOpaque(raw).takeRetainedValue()
        let (dispatched, task, reserved, spooled) = context.state.withLock { state in
            defer {
                state.dispatched = false
                state.reserved = 0
                state.spooledReserved = 0
                state.spool = nil
            }
            return (state.dispatched, state.task, state.reserved, state.spooledReserved)
        }
        if reserved > 0 { budget.release(reserved) }
        if spooled > 0 { spoolBudget.release(spooled) }
        if let connection { deadlines.enter(.awaitingHead, on: connection) }
        if dispatched {
            state.withLock { core in
                core.running -= 1
                core.suspended.removeValue(forKey: ObjectIdentifier(context))
            }
        }
        task?.cancel()  // still set only if stop() gave up on the handler
        logCompletion(context, termination)
    }

    private func logCompletion(_ context: RequestContext, _ termination: MHD_RequestTerminationCode) {
        let milliseconds = (ContinuousClock.now - context.started) / .milliseconds(1)
        let duration = String(format: "%.1f ms", milliseconds)
        let request = "\(context.head.method) \(context.head.path)"
        if termination == .REQUEST_TERMINATED_COMPLETED_OK, let status = context.answeredStatus {
            logger.info("\(request) \(status.code) \(duration)")
        } else {
            let reason = switch termination {
            case .REQUEST_TERMINATED_TIMEOUT_REACHED: "timed out"
            case .REQUEST_TERMINATED_DAEMON_SHUTDOWN: "server stopped"
            case .REQUEST_TERMINATED_CLIENT_ABORT, .REQUEST_TERMINATED_READ_ERROR: "client went away"
            default: "connection error"
            }
            logger.notice("\(request) not completed: \(reason) after \(duration)")
        }
    }

    // MARK: Shutdown

    /// From now on new requests get 503 and no handler is started.
    func beginStopping() {
        state.withLock { $0.stopping = true }
    }

    var runningCount: Int { state.withLock { $0.running } }

    /// Answers every request whose handler is still running with 503, cancels the handlers and
    /// resumes the connections, so libmicrohttpd can be stopped.
    func abandonRunningHandlers() {
        let abandoned = state.withLock { core -> Int in
            let contexts = Array(core.suspended.values)
            core.suspended.removeAll()
            let refusal = HTTPError.serviceUnavailable(
                "server stopped before the request finished", code: "shutting_down").response
            for context in contexts {
                let (connection, task) = context.state.withLock { state -> (LibMicroHTTPD.Connection?, Task<Void, Never>?) in
                    guard case .running(let connection) = state.phase else { return (nil, nil) }
                    state.phase = .ready(refusal)
                    return (connection, state.task)
                }
                task?.cancel()
                if let connection { MHD_resume_connection(connection.pointer) }
            }
            return contexts.count
        }
        if abandoned > 0 { logger.warning("stopping with \(abandoned) handlers still running; answered 503") }
    }

    // MARK: Reading the request head

    private func readHead(_ connection: OpaquePointer, url: UnsafePointer<CChar>?, method: UnsafePointer<CChar>?) -> HTTPRequest {
        HTTPRequest(
            method: HTTPMethod(rawValue: method.map { String(cString: $0) } ?? "GET"),
            path: url.map { String(cString: $0) } ?? "/",
            queryItems: Self.values(of: .GET_ARGUMENT_KIND, on: connection),
            headers: HTTPHeaders(Self.values(of: .HEADER_KIND, on: connection).map { HTTPHeader(name: $0.0, value: $0.1) }),
            remoteAddress: LibMicroHTTPD.clientAddress(of: connection))
    }

    private static func values(of kind: MHD_ValueKind, on connection: OpaquePointer) -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = []
        withUnsafeMutablePointer(to: &pairs) { pointer in
            _ = MHD_get_connection_values_n(connection, kind, { closure, _, key, keySize, value, valueSize in
                let pairs = closure!.assumingMemoryBound(to: [(name: String, value: String)].self)
                pairs.pointee.append((ServerCore.text(key, keySize), ServerCore.text(value, valueSize)))
                return .YES
            }, pointer)
        }
        return pairs
    }

    private static func text(_ pointer: UnsafePointer<CChar>?, _ count: Int) -> String {
        guard let pointer else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: count), as: UTF8.self)
    }
}
