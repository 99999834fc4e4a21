import CMicroHTTPD
import Foundation
import Synchronization

/// Deadlines no trickle can extend: a connection must send a request's header fields within `head` of
/// opening (or of its previous response), and the whole body within `body` of its headers. libmicrohttpd's
/// own timeout is an idle timeout that restarts on every byte, so one client sending a header line every few
/// seconds could hold connections for ever. A watchdog shuts down the socket of a connection past its
/// deadline; libmicrohttpd then sees the connection end and cleans up. Connections whose handler runs are
/// never cut.
final class ConnectionDeadlines: Sendable {
    enum Phase: Sendable { case awaitingHead, receivingBody, handling }

    private struct Entry {
        var socket: Int32
        var phase: Phase
        var since: ContinuousClock.Instant
        var cut = false
    }

    let head: Duration
    let body: Duration
    private let entries = Mutex<[UInt: Entry]>([:])
    private let stopped = Atomic<Bool>(false)

    init(head: Duration, body: Duration) {
        self.head = head
        self.body = body
    }

    private static func key(_ connection: OpaquePointer) -> UInt { UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(connection))) }

    func opened(_ connection: OpaquePointer) {
        guard let socket = LibMicroHTTPD.socket(of: connection) else { return }
        entries.withLock { $0[Self.key(connection)] = Entry(socket: socket, phase: .awaitingHead, since: .now) }
    }

    func closed(_ connection: OpaquePointer) {
        _ = entries.withLock { $0.removeValue(forKey: Self.key(connection)) }
    }

    func enter(_ phase: Phase, on connection: OpaquePointer) {
        entries.withLock { entries in
            let key = Self.key(connection)
            guard entries[key] != nil else { return }
            entries[key]!.phase = phase
            entries[key]!.since = .now
        }
    }

    /// Sockets past their deadline at `now`, each returned once.
    func overdue(at now: ContinuousClock.Instant) -> [Int32] {
        entries.withLock { entries in
            var sockets: [Int32] = []
            for (key, entry) in entries where !entry.cut {
                let limit: Duration? = switch entry.phase {
                case .awaitingHead: head
                case .receivingBody: body
                case .handling: nil
                }
                if let limit, now - entry.since > limit {
                    entries[key]!.cut = true
                    sockets.append(entry.socket)
                }
            }
            return sockets
        }
    }

    /// Runs the watchdog until `stop()`: every quarter second, shuts down overdue sockets.
    func start() {
        let thread = Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                for socket in overdue(at: .now) { shutdown(socket, Int32(SHUT_RDWR)) }
                Thread.sleep(forTimeInterval: 0.25)
            }
        }
        thread.name = "mneme-http-deadlines"
        thread.start()
    }

    func stop() { stopped.store(true, ordering: .relaxed) }
}

/// The memory all buffered request bodies may hold together: a body that would pass it is refused with 503
/// and `Retry-After` instead of being read, so many large uploads at once cannot exhaust the machine.
final class BodyBudget: Sendable {
    let limit: Int
    private let used = Mutex(0)

    init(limit: Int) { self.limit = limit }

    /// Takes `bytes` from the budget if they fit.
    func reserve(_ bytes: Int) -> Bool {
        used.withLock { used in
            guard used + bytes <= limit else { return false }
            used += bytes
            return true
        }
    }

    func release(_ bytes: Int) { used.withLock { $0 -= bytes } }
}
