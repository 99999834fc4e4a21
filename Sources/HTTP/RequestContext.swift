import Foundation
import Synchronization

/// One request's state inside the server, from libmicrohttpd's first access-handler call to its
/// request-completed notification.
///
/// It is retained through `con_cls` (released in the completed callback, which libmicrohttpd runs for
/// every request it showed us, aborted ones included) and by the handler task while one runs. The
/// body is only touched on the connection's MHD thread; the phase is shared with the handler task.
/// Both sit behind one uncontended mutex so the sharing needs no argument.
final class RequestContext: Sendable {
    enum Phase: Sendable {
        /// Header fields seen, body arriving.
        case receiving
        /// Connection suspended, handler running.
        case running(LibMicroHTTPD.Connection)
        /// Handler finished (or shutdown gave up on it) and the connection was resumed; the next
        /// access-handler call queues this response.
        case ready(HTTPResponse)
        /// A response was queued with this status.
        case answered(HTTPStatus)
    }

    struct State: Sendable {
        var phase: Phase = .receiving
        var body = Data()
        /// Bytes that arrived after the body passed the limit; they are dropped, not stored.
        var discardedBytes = 0
        var overLimit = false
        /// Bytes of the in-memory `BodyBudget` this request holds (released when it completes).
        var reserved = 0
        /// The body, once it is too large to keep in memory while it arrives (`BodySpool`).
        var spool: BodySpool?
        /// Bytes of the spool budget this request holds (released when it completes).
        var spooledReserved = 0
        /// The spool file could not be written (disk full): the connection is closed.
        var spoolFailed = false
        /// The body would have passed the buffered-body budget: the connection is closed.
        var overBudget = false
        /// Counted in `ServerCore`'s running requests (decremented at completion).
        var dispatched = false
        var task: Task<Void, Never>?
    }

    /// The request without its body.
    let head: HTTPRequest
    let started = ContinuousClock.now
    let state = Mutex(State())
    private let liveCount: LiveCount

    init(head: HTTPRequest, liveCount: LiveCount) {
        self.head = head
        self.liveCount = liveCount
        liveCount.value.add(1, ordering: .relaxed)
    }

    deinit {
        liveCount.value.subtract(1, ordering: .relaxed)
    }

    /// The status of the queued response, if one was queued.
    var answeredStatus: HTTPStatus? {
        state.withLock { state in
            if case .answered(let status) = state.phase { return status }
            return nil
        }
    }
}

/// How many `RequestContext`s exist, to show in tests that none leak.
final class LiveCount: Sendable {
    let value = Atomic<Int>(0)
}
