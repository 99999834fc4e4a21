import Foundation
import HTTP

/// Bearer-token protection of the writing endpoints.
///
/// With a token configured every write needs `Authorization: Bearer <token>`. Without one, writes are allowed
/// only while the server listens on loopback: bound to any other address it refuses them, so a server exposed
/// by accident cannot be retrained by anyone who reaches it.
struct Authorization: Sendable {
    let token: [UInt8]?
    let loopbackOnly: Bool

    init(token: String?, host: String) {
        self.token = token.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        loopbackOnly = Self.isLoopback(host)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.")
    }


    func authorizeWrite(_ request: HTTPRequest) throws {
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
