import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP/1.1 keep-alive client over one TCP connection, for load generation: no framework between
/// the benchmark and the socket, so what is measured is the server.
final class LoadClient {
    enum Failure: Error, CustomStringConvertible {
        case connect(Int32), closed, malformed
        var description: String {
            switch self {
            case let .connect(code): return "connect failed (errno \(code))"
            case .closed: return "connection closed"
            case .malformed: return "malformed response"
            }
        }
    }

    private var fd: Int32 = -1
    private let host: String
    private let port: UInt16
    private var buffer = [UInt8]()

    init(host: String = "127.0.0.1", port: UInt16) throws {
        self.host = host
        self.port = port
        try connectSocket()
    }

    deinit { if fd >= 0 { close(fd) } }

    private func connectSocket() throws {
        if fd >= 0 { close(fd) }
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 { throw Failure.connect(errno) }
        buffer.removeAll()
    }

    /// Sends one request and returns (status, body); reconnects once if the server closed an idle connection.
    func request(method: String, path: String, contentType: String? = nil, body: Data = Data(),
                 headers: [String: String] = [:]) throws -> (status: Int, body: Data) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Length: \(body.count)\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        var message = Data(head.utf8)
        message.append(body)
        do {
            try send(message)
            return try readResponse()
        } catch Failure.closed {
            try connectSocket()
            try send(message)
            return try readResponse()
        }
    }

    private func send(_ data: Data) throws {
        try data.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { throw Failure.closed }
                sent += n
            }
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 { throw Failure.closed }
        buffer.append(contentsOf: chunk[0 ..< n])
    }

    private func readResponse() throws -> (status: Int, body: Data) {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        while headerEnd == nil {
            if buffer.count >= 4 {
                for i in 0 ... buffer.count - 4 where buffer[i] == 13 && Array(buffer[i ..< i + 4]) == separator {
                    headerEnd = i
                    break
                }
            }
            if headerEnd == nil { try fill() }
        }
        let header = String(decoding: buffer[0 ..< headerEnd!], as: UTF8.self)
        let lines = header.components(separatedBy: "\r\n")
        guard let statusLine = lines.first, statusLine.count >= 12, let status = Int(statusLine.dropFirst(9).prefix(3)) else {
            throw Failure.malformed
        }
        var length = 0
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                length = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        let bodyStart = headerEnd! + 4
        while buffer.count < bodyStart + length { try fill() }
        let body = Data(buffer[bodyStart ..< bodyStart + length])
        buffer.removeFirst(bodyStart + length)
        return (status, body)
    }
}
