import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Durable file writes: POSIX open/write/fsync, which Foundation's `Data.write` does not do.
enum FileIO {
    /// A process-wide counter for unique temporary names (Synchronization's Mutex needs macOS 15).
    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.withLock { value += 1; return value } }
    }
    private static let serial = Counter()

    static func nextSerial() -> Int { serial.next() }

    /// Creates or truncates `url`, writes `data` and fsyncs before closing.
    static func write(_ data: Data, to url: URL) throws {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure(url) }
        defer { close(descriptor) }
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw failure(url)
                }
                offset += written
            }
        }
        guard fsync(descriptor) == 0 else { throw failure(url) }
    }

    /// Writes to a temporary sibling, fsyncs, renames over `url` and fsyncs the folder.
    static func writeAtomically(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(nextSerial())")
        do {
            try write(data, to: temporary)
            guard rename(temporary.path, url.path) == 0 else { throw failure(url) }
        } catch {
            unlink(temporary.path)
            throw error
        }
        syncDirectory(url.deletingLastPathComponent())
    }

    /// fsyncs a folder so renames and new entries in it survive a crash (best effort: some file systems refuse).
    static func syncDirectory(_ url: URL) {
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    private static func failure(_ url: URL) -> DatasetError {
        .writeFailed(path: url.path, reason: String(cString: strerror(errno)))
    }
}
