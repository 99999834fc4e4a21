import Foundation

/// One writing server (`all` or `tuner`) per data directory: an exclusive `flock` on `<data>/.serve.lock`,
/// held for the life of the process. The kernel drops it when the process ends, however it ends, so a crashed
/// server leaves nothing behind; the file names the holder's pid for the message a second server prints.
final class ServeLock: Sendable {
    private let descriptor: Int32

    init(dataDirectory: URL) throws {
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        let path = dataDirectory.appendingPathComponent(".serve.lock").path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ServerError.configuration("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            let holder = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw ServerError.configuration("another mneme serve\(holder.isEmpty ? "" : " (pid \(holder))") is the writer of "
                                            + "\(dataDirectory.path); stop it first, or start this one with --role replica")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
    }

    deinit { close(descriptor) }
}

/// Whether `host:port` can be bound now (port 0 always can): checked before anything is created, so a taken
/// port is reported before the data directory is made or the base model imported.
enum PortCheck {
    static func problem(host: String, port: UInt16) -> String? {
        guard port != 0 else { return nil }
        let ipv6 = host.contains(":")
        let socketDescriptor = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { return nil }
        defer { close(socketDescriptor) }
        var yes: Int32 = 1
        setsockopt(socketDescriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let name = host == "localhost" ? "127.0.0.1" : host
        let result: Int32
        if ipv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, name, &address.sin6_addr) == 1 else { return nil }
            result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, name, &address.sin_addr) == 1 else { return nil }
            result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard result != 0 else { return nil }
        return "cannot listen on \(host):\(port): \(String(cString: strerror(errno)))" + (errno == EADDRINUSE ? " (another server uses the port; choose one with --port)" : "")
    }
}
