import Foundation

/// An error a handler throws to answer with a 4xx/5xx status. The router sends it as
/// `{"error": {"code": "...", "message": "..."}}` with `Content-Type: application/json`.
///
/// `code` is a stable machine-readable token (`"task_not_found"`), `message` a sentence for people.
public struct HTTPError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A 4xx or 5xx status.
    public var status: HTTPStatus
    /// A stable snake_case token clients can branch on.
    public var code: String
    /// A sentence for people; never internal details.
    public var message: String
    /// Extra header fields for the error response (`Allow` for 405, `WWW-Authenticate` for 401).
    public var headers: HTTPHeaders

    public init(_ status: HTTPStatus, code: String, message: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// The JSON response for this error.
    public var response: HTTPResponse {
        struct Body: Encodable {
            struct Detail: Encodable { let code: String; let message: String }
            let error: Detail
        }
        var headers = self.headers
        headers["Content-Type"] = MediaType.jsonUTF8
        // Encoding two strings cannot fail; the fallback keeps this path free of `try`.
        let body = (try? HTTPResponse.makeJSONEncoder().encode(Body(error: .init(code: code, message: message))))
            ?? Data(#"{"error":{"code":"internal_error","message":"error encoding failed"}}"#.utf8)
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    // MARK: Common errors (each takes the message and, where it varies, the code)

    public static func badRequest(_ message: String, code: String = "bad_request") -> HTTPError {
        HTTPError(.badRequest, code: code, message: message)
    }

    public static func unauthorized(_ message: String, code: String = "unauthorized") -> HTTPError {
        HTTPError(.unauthorized, code: code, message: message, headers: ["WWW-Authenticate": "Bearer"])
    }

    public static func forbidden(_ message: String, code: String = "forbidden") -> HTTPError {
        HTTPError(.forbidden, code: code, message: message)
    }

    public static func notFound(_ message: String, code: String = "not_found") -> HTTPError {
        HTTPError(.notFound, code: code, message: message)
    }

    public static func conflict(_ message: String, code: String = "conflict") -> HTTPError {
        HTTPError(.conflict, code: code, message: message)
    }

    /// 405 with the `Allow` header listing `allowed`.
    public static func methodNotAllowed(_ method: HTTPMethod, path: String, allowed: [HTTPMethod]) -> HTTPError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return HTTPError(.methodNotAllowed, code: "method_not_allowed",
                         message: "\(method) is not allowed on \(path); allowed: \(list)",
                         headers: ["Allow": list])
    }

    /// 413 for a body over `limit` bytes.
    public static func contentTooLarge(limit: Int) -> HTTPError {
        HTTPError(.contentTooLarge, code: "body_too_large",
                  message: "request body is larger than the limit of \(limit) bytes")
    }

    public static func unsupportedMediaType(_ message: String) -> HTTPError {
        HTTPError(.unsupportedMediaType, code: "unsupported_media_type", message: message)
    }

    /// The 500 sent for errors that are not `HTTPError`s; details go to the log, not the client.
    public static let internalError = HTTPError(
        .internalServerError, code: "internal_error", message: "internal server error")

    public static func serviceUnavailable(_ message: String, code: String = "unavailable") -> HTTPError {
        HTTPError(.serviceUnavailable, code: code, message: message)
    }

    /// 400 describing why `JSONDecoder` rejected a body, naming the field path (`items[2].image`).
    /// `body` lets a syntax error report the character position.
    public static func invalidJSON(_ error: DecodingError, body: Data? = nil) -> HTTPError {
        badRequest(JSONBody.describe(error, body: body), code: "invalid_json")
    }
}
