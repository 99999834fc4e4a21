import Foundation

/// A complete HTTP request as handlers see it: the body has been read in full (within the server's
/// body limit) before a handler runs.
///
/// Build one directly to test handlers in-process:
/// `await router.respond(to: HTTPRequest(method: .get, uri: "/v1/tasks?limit=5"))`.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    /// The percent-decoded path without the query string, e.g. `/v1/snapshots/abc/promote`.
    public var path: String
    /// Decoded query parameters; when a name repeats, the first value wins (`queryItems` has all).
    public var query: [String: String]
    /// Every decoded query parameter in order of appearance.
    public var queryItems: [(name: String, value: String)]
    /// Request header fields, looked up case-insensitively.
    public var headers: HTTPHeaders
    public var body: Data
    /// The client's IP address as text (`127.0.0.1`, `::1`), when known.
    public var remoteAddress: String?
    /// Whether the client has closed its connection while the handler runs (long work can stop then). Always
    /// false for a request not read from a socket.
    public var clientHasGone: @Sendable () -> Bool = { false }

    /// Creates a request from already-decoded parts.
    public init(
        method: HTTPMethod,
        path: String,
        queryItems: [(name: String, value: String)] = [],
        headers: HTTPHeaders = [:],
        body: Data = Data(),
        remoteAddress: String? = nil
    ) {
        self.method = method
        self.path = path
        self.queryItems = queryItems
        var query: [String: String] = [:]
        for item in queryItems where query[item.name] == nil { query[item.name] = item.value }
        self.query = query
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// Creates a request from a request target as it appears on the wire (`/a%20b?x=1&y=two+words`):
    /// the path and the query are percent-decoded, and `+` in the query means a space.
    public init(
        method: HTTPMethod,
        uri: String,
        headers: HTTPHeaders = [:],
        body: Data = Data(),
        remoteAddress: String? = nil
    ) {
        let rawPath: Substring
        let rawQuery: Substring?
        if let mark = uri.firstIndex(of: "?") {
            rawPath = uri[..<mark]
            rawQuery = uri[uri.index(after: mark)...]
        } else {
            rawPath = uri[...]
            rawQuery = nil
        }
        let path = String(rawPath).removingPercentEncoding ?? String(rawPath)
        self.init(method: method, path: path, queryItems: rawQuery.map(Self.parseQuery) ?? [],
                  headers: headers, body: body, remoteAddress: remoteAddress)
    }

    /// The body as UTF-8 text, or nil when it is not valid UTF-8.
    public var bodyText: String? { String(data: body, encoding: .utf8) }

    /// The parsed `Content-Type` header, or nil when it is missing or unparsable.
    public var contentType: MediaType? { headers["Content-Type"].flatMap(MediaType.init(parsing:)) }

    static func parseQuery(_ query: Substring) -> [(name: String, value: String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) -> String in
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }
}
