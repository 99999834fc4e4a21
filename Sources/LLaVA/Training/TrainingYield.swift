import Foundation
import Synchronization

/// A cooperative pause point inside training: the forward and backward passes call `point()` between layers (and
/// evaluation between items), and
/// a server that trains in the background installs a handler on its training thread that waits while queries are
/// queued, so a query waits for at most one layer of a training step instead of a whole step. Only the thread that
/// installed the handler pauses (batched inference runs the same layer loops on other threads).
public enum TrainingYield {
    private struct Installed: @unchecked Sendable {
        var thread: pthread_t
        var run: @Sendable () -> Void
    }

    private static let installed = Mutex<Installed?>(nil)

    /// Installs the pause handler for the calling thread (replacing any other), or removes it with nil.
    public static func install(_ handler: (@Sendable () -> Void)?) {
        let entry = handler.map { Installed(thread: pthread_self(), run: $0) }
        installed.withLock { $0 = entry }
    }

    /// The handler installed for the calling thread, if any.
    @inline(__always)
    private static var handlerOfCurrentThread: (@Sendable () -> Void)? {
        guard let entry = installed.withLock({ $0 }), pthread_equal(entry.thread, pthread_self()) != 0 else { return nil }
        return entry.run
    }

    /// Whether the calling thread has a pause handler (it trains beside a server's queries).
    public static var isInstalledOnCurrentThread: Bool { handlerOfCurrentThread != nil }

    @inline(__always)
    public static func point() {
        handlerOfCurrentThread?()
    }
}
