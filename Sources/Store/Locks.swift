import Foundation

/// The exclusive writer lock on `data/.lock`.
///
/// Every acquisition opens the file afresh, so each holder has its own open file description: `flock` then
/// excludes other processes, other `Store` instances in this process, and other threads of the same instance
/// alike. Read-only stores never take it; they rely on every published file appearing by an atomic rename.
enum WriterLock {
    static func withExclusive<T>(_ lockFile: URL, _ body: () throws -> T) throws -> T {
        let fd = open(lockFile.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.errno(lockFile.path, "open lock file") }
        defer { close(fd) }  // closing the description releases the lock
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw StoreError.errno(lockFile.path, "flock") }
        }
        return try body()
    }
}

/// Proof that a writable `Store` is alive, used to tell a crashed writer's leftovers from a live one's work.
///
/// A writable store creates `data/.leases/<token>` and holds an exclusive `flock` on it for its lifetime. Its
/// temporary directories and the jobs it runs carry the token. The kernel drops the lock when the process dies
/// (even by SIGKILL), so recovery can ask "is this token's owner still alive?" by trying the lock: if it can
/// take it, the owner is gone and its temporaries and running jobs are fair game.
final class WriterLease: Sendable {
    let token: String
    private let file: URL
    private let fd: Int32

    init(directory: URL) throws {
        token = "w\(getpid())-\(StoreID.randomSuffix(count: 8))"
        file = directory.appendingPathComponent(token)
        fd = open(file.path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.errno(file.path, "create lease") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = StoreError.errno(file.path, "flock lease")
            close(fd)
            throw error
        }
    }

    deinit {
        unlink(file.path)
        close(fd)
    }

    /// Whether the store holding `token`'s lease in `directory` is still alive. Tokens without a lease file
    /// (never created, or released by a clean shutdown) are dead.
    static func isAlive(_ token: String, in directory: URL) -> Bool {
        guard StoreID.isValid(token) else { return false }
        let path = directory.appendingPathComponent(token).path
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK || errno == EINTR
    }
}
