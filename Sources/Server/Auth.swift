import Foundation
import HTTP

/// Protection of the writing endpoints: from other web sites, and by a bearer token.
///
/// Every write, token or not, must come from this server's own origin: a `Host` that is an IP literal,
/// `localhost` or a name given with `--allowed-host` (a DNS name an attacker controls and points at 127.0.0.1,
/// DNS rebinding, is refused), an `Origin`, when a browser sends one, equal to that host, and no
/// `Sec-Fetch-Site: cross-site`. So a page on another site cannot push, promote or roll back through the
/// operator's browser, even with the forms it may send without asking (`text/plain`, multipart).
///
/// With a token configured every write needs `Authorization: Bearer <token>`. Without one, writes are allowed
/// only while the server listens on loopback: bound to any other address it refuses them, so a server exposed
/// by accident cannot be retrained by anyone who reaches it.
struct Authorization: Sendable {
    let token: [UInt8]?
    let loopbackOnly: Bool
    /// Host names (lowercased, without port) accepted besides IP literals and `localhost`.
    let allowedHosts: Set<String>

    init(token: String?, host: String, allowedHosts: [String] = []) {
        self.token = token.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        loopbackOnly = Self.isLoopback(host)
        var names = Set(allowedHosts.map { $0.lowercased() })
        if !host.isEmpty, host != "0.0.0.0", host != "::" { names.insert(host.lowercased()) }
        self.allowedHosts = names
    }

    /// Refuses a write that does not come from this server's own origin.
    func requireSameOrigin(_ request: HTTPRequest) throws {
        if let host = request.headers["host"] {
            guard let name = Self.hostName(host), isAllowed(name) else {
                throw HTTPError.forbidden("Host \(host.prefix(100)) is not this server's name; writes are taken only for an IP address, localhost "
                                          + "or a name given with --allowed-host", code: "foreign_host")
            }
        }
        if request.headers["sec-fetch-site"]?.lowercased() == "cross-site" {
            throw HTTPError.forbidden("writes are not taken from pages on other sites", code: "foreign_origin")
        }
        if let origin = request.headers["origin"] {
            let authority = origin.lowercased().split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init)
            let scheme = origin.lowercased().hasPrefix("http://") || origin.lowercased().hasPrefix("https://")
            guard scheme, let authority, authority == request.headers["host"]?.lowercased() else {
                throw HTTPError.forbidden("writes are not taken from pages on other sites (Origin \(origin.prefix(100)))", code: "foreign_origin")
            }
        }
    }

    private func isAllowed(_ name: String) -> Bool {
        name == "localhost" || Self.isIPLiteral(name) || allowedHosts.contains(name)
    }

    /// The name of a `Host` value without its port (`[::1]:8080` → `::1`), lowercased; nil when malformed.
    static func hostName(_ host: String) -> String? {
        let value = host.trimmingCharacters(in: .whitespaces).lowercased()
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { return nil }
            return String(value[value.index(after: value.startIndex) ..< close])
        }
        let name = value.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return name.isEmpty ? nil : name
    }

    static func isIPLiteral(_ name: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.")
    }


    func authorizeWrite(_ request: HTTPRequest) throws {
        try requireSameOrigin(request)
        guard let token else {
            if loopbackOnly { return }
            throw HTTPError.forbidden("this server listens beyond loopback without a token; start it with --token-file or MNEME_TOKEN to allow writes",
                                      code: "writes_disabled")
        }
        guard let header = request.headers["authorization"], header.lowercased().hasPrefix("bearer ") else {
            throw HTTPError.unauthorized("this endpoint needs Authorization: Bearer <token>")
        }
        let offered = Array(header.dropFirst("bearer ".count).trimmingCharacters(in: .whitespaces).utf8)
        guard Self.constantTimeEqual(offered, token) else {
            throw HTTPError(.unauthorized, code: "unauthorized", message: "the bearer token is not valid",
                            headers: ["WWW-Authenticate": "Bearer error=\"invalid_token\""])
        }
    }

    /// Compares in time that depends only on the lengths, never on where the first difference is.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0 ..< max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}

extension ServerConfiguration {
    /// Reads a token from a file (first line, whitespace trimmed) or the MNEME_TOKEN environment variable.
    public static func loadToken(file: String?) throws -> String? {
        if let file {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard !token.isEmpty else { throw ServerError.configuration("token file \(file) is empty") }
            return token
        }
        return ProcessInfo.processInfo.environment["MNEME_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }
}
