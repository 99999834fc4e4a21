import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A deliberately plain blocking HTTP/1.1 client over a TCP socket, so tests control exactly which
/// bytes go out when (partial uploads, lying clients, keep-alive) and see exactly what comes back.
public final class SocketClient {
    public struct Response {
        public var status: Int
        public var headers: [(String, String)]
        public var body: Data

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// `error.code` of a JSON error body.
        public var errorCode: String? {
            let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any]
            return (object?["error"] as? [String: Any])?["code"] as? String
        }

        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public enum Failure: Error { case connect(Int32), closed, timeout, malformed(String) }

    private let fd: Int32
    private var buffer = Data()

    public init(port: UInt16, timeoutSeconds: Int = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result != 0 {
            let error = errno
            close(fd)
            throw Failure.connect(error)
        }
    }

    deinit { close(fd) }

    /// Sends `bytes`; false if the peer closed or reset the connection.
    @discardableResult
    public func send(_ bytes: Data) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if sent <= 0 { return false }
                offset += sent
            }
            return true
        }
    }

    public func send(_ text: String) { send(Data(text.utf8)) }

    /// Sends a request with `Content-Length` and keep-alive.
    public func sendRequest(_ method: String, _ target: String, headers: [String: String] = [:], body: Data = Data()) {
        var head = "\(method) \(target) HTTP/1.1\r\n"
        if !headers.keys.contains(where: { $0.lowercased() == "host" }) { head += "Host: localhost\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        send(Data((head + "\r\n").utf8) + body)
    }

    /// Reads one response. `bodyExpected: false` for answers to HEAD.
    public func readResponse(bodyExpected: Bool = true) throws -> Response {
        let headerEnd = try readUntil(Data("\r\n\r\n".utf8))
        let head = String(decoding: consume(headerEnd + 4).prefix(headerEnd), as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure.malformed(head) }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = Response(status: status, headers: headers, body: Data())
        if status == 100 { return response }
        guard bodyExpected else { return response }
        if let length = response.header("Content-Length").flatMap(Int.init) {
            try fill(length)
            response.body = consume(length)
        } else if response.header("Connection")?.lowercased() == "close" {
            while try receive() {}
            response.body = buffer
            buffer = Data()
        }
        return response
    }

    /// Whether the server closed the connection (EOF or reset) within the receive timeout.
    public func isClosedByServer() -> Bool {
        do {
            while try receive() {}
            return true
        } catch Failure.closed {
            return true
        } catch {
            return false
        }
    }

    /// Reads and returns everything the server sends until it closes (or the timeout).
    public func readToEnd() -> Data {
        while (try? receive()) == true {}
        defer { buffer = Data() }
        return buffer
    }

    /// Removes and returns the first `count` buffered bytes (zero-based copies both).
    private func consume(_ count: Int) -> Data {
        let head = Data(buffer.prefix(count))
        buffer = Data(buffer.dropFirst(count))
        return head
    }

    private func readUntil(_ marker: Data) throws -> Int {
        while true {
            if let range = buffer.range(of: marker) { return range.lowerBound - buffer.startIndex }
            guard try receive() else { throw Failure.closed }
        }
    }

    private func fill(_ count: Int) throws {
        while buffer.count < count {
            guard try receive() else { throw Failure.closed }
        }
    }

    /// One recv; false at EOF.
    private func receive() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &chunk, chunk.count, 0)
        if count > 0 {
            buffer.append(contentsOf: chunk[..<count])
            return true
        }
        if count == 0 { return false }
        if errno == EAGAIN || errno == EWOULDBLOCK { throw Failure.timeout }
        throw Failure.closed
    }
}
