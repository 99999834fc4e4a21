import CMicroHTTPD
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small bridges to libmicrohttpd that need care in Swift.
enum LibMicroHTTPD {
    /// An `MHD_Connection *` handed from the MHD thread that suspends a connection to the task that
    /// resumes it. libmicrohttpd allows `MHD_resume_connection` from any thread, and the pointer stays
    /// valid while the connection is suspended (`HTTPServer.stop()` resumes every suspended connection
    /// before `MHD_stop_daemon`). Nothing else is done with it off the MHD thread.
    struct Connection: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// An `MHD_Daemon *`; used under `HTTPServer`'s lifecycle lock only.
    struct Daemon: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    // `MHD_get_connection_info` and `MHD_get_daemon_info` are declared variadic (`...`), and Swift
    // does not import C variadic functions. In libmicrohttpd 0.9.75 neither reads a variadic
    // argument for the queries used here (no `va_start` in their bodies), and on the SysV x86-64 and
    // AArch64 ABIs the fixed arguments of a variadic function travel exactly as in a fixed-arity
    // call; so they are called through fixed-arity pointers found with dlsym.
    private typealias ConnectionInfoFunction =
        @convention(c) (OpaquePointer?, MHD_ConnectionInfoType) -> UnsafePointer<MHD_ConnectionInfo>?
    private typealias DaemonInfoFunction =
        @convention(c) (OpaquePointer?, MHD_DaemonInfoType) -> UnsafePointer<MHD_DaemonInfo>?

    private struct InfoFunctions: @unchecked Sendable {  // C function pointers are immutable
        let connection: ConnectionInfoFunction?
        let daemon: DaemonInfoFunction?
    }

    private static let info: InfoFunctions = {
        let handle = dlopen(nil, RTLD_LAZY)
        defer { if let handle { dlclose(handle) } }
        func lookUp<F>(_ name: String, as type: F.Type) -> F? {
            guard let handle, let symbol = dlsym(handle, name) else { return nil }
            return unsafeBitCast(symbol, to: type)
        }
        return InfoFunctions(connection: lookUp("MHD_get_connection_info", as: ConnectionInfoFunction.self),
                             daemon: lookUp("MHD_get_daemon_info", as: DaemonInfoFunction.self))
    }()

    /// The port the daemon listens on (the real one when started with port 0).
    static func boundPort(of daemon: OpaquePointer) -> UInt16? {
        info.daemon?(daemon, .DAEMON_INFO_BIND_PORT)?.pointee.port
    }

    /// The connection's socket; call on the connection's MHD thread (or in its notify callback).
    static func socket(of connection: OpaquePointer) -> Int32? {
        info.connection?(connection, .CONNECTION_INFO_CONNECTION_FD)?.pointee.connect_fd
    }

    /// The client's IP address as text; call on the connection's MHD thread.
    static func clientAddress(of connection: OpaquePointer) -> String? {
        guard let address = info.connection?(connection, .CONNECTION_INFO_CLIENT_ADDRESS)?.pointee.client_addr
        else { return nil }
        return SocketAddress.text(of: address)
    }
}

/// A connected socket seen from our side.
enum PeerSocket {
    /// Whether the peer closed or reset the connection: a peek reads end-of-stream or fails with a reset.
    /// Bytes the client sent after its request (a pipelined one) are left where they are.
    static func hasClosed(_ socket: Int32) -> Bool {
        var byte: UInt8 = 0
        let read = recv(socket, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if read == 0 { return true }
        if read < 0 { return errno == ECONNRESET || errno == ENOTCONN || errno == EPIPE }
        return false
    }
}

/// An IPv4 or IPv6 socket address for binding.
enum SocketAddress {
    case v4(sockaddr_in)
    case v6(sockaddr_in6)

    /// Parses an address literal; `localhost` means `127.0.0.1`.
    init?(host: String, port: UInt16) {
        let literal = host == "localhost" ? "127.0.0.1" : host
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, literal, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            self = .v4(v4)
            return
        }
        var v6 = sockaddr_in6()
        let unbracketed = literal.hasPrefix("[") && literal.hasSuffix("]") ? String(literal.dropFirst().dropLast()) : literal
        if inet_pton(AF_INET6, unbracketed, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            self = .v6(v6)
            return
        }
        return nil
    }

    var isIPv6: Bool { if case .v6 = self { true } else { false } }

    /// Calls `body` with a `sockaddr *` for this address.
    func withSockaddrPointer<R>(_ body: (UnsafeMutableRawPointer) -> R) -> R {
        switch self {
        case .v4(var address): withUnsafeMutableBytes(of: &address) { body($0.baseAddress!) }
        case .v6(var address): withUnsafeMutableBytes(of: &address) { body($0.baseAddress!) }
        }
    }

    /// `inet_ntop` of an IPv4/IPv6 `sockaddr`.
    static func text(of address: UnsafePointer<sockaddr>) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let result: UnsafePointer<CChar>?
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            result = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                withUnsafePointer(to: v4.pointee.sin_addr) { inet_ntop(AF_INET, $0, &buffer, socklen_t(buffer.count)) }
            }
        case AF_INET6:
            result = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                withUnsafePointer(to: v6.pointee.sin6_addr) { inet_ntop(AF_INET6, $0, &buffer, socklen_t(buffer.count)) }
            }
        default:
            return nil
        }
        return result.map { String(cString: $0) }
    }
}
