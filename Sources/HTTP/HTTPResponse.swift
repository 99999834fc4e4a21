import Foundation

/// What a handler returns: a status, header fields and a complete body.
///
/// `Content-Length` is computed by the server from the body; do not set it. For `HEAD` requests the
/// router may leave the body in place and the server sends only the header fields.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: Data

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = [:], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON body encoded with `encoder` (`Content-Type: application/json`). Throws the encoder's
    /// error (the router turns it into a 500).
    public static func json(
        _ value: some Encodable,
        status: HTTPStatus = .ok,
        encoder: JSONEncoder = HTTPResponse.makeJSONEncoder()
    ) throws -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": MediaType.jsonUTF8], body: try encoder.encode(value))
    }

    /// A JSON body from Foundation objects (`[String: Any]`, arrays, strings, numbers, `NSNull`) via
    /// `JSONSerialization`, for ad-hoc shapes such as per-task accuracy maps. Throws
    /// `EncodingError.invalidValue` when `object` has no JSON form.
    public static func json(object: Any, status: HTTPStatus = .ok) throws -> HTTPResponse {
        // JSONSerialization raises an Objective-C style exception, not a Swift error, on invalid
        // input, so it has to be checked first. Wrapping in an array also admits top-level fragments.
        guard JSONSerialization.isValidJSONObject([object]) else {
            throw EncodingError.invalidValue(object, EncodingError.Context(
                codingPath: [], debugDescription: "value of type \(type(of: object)) has no JSON representation"))
        }
        let data = try JSONSerialization.data(
            withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        return HTTPResponse(status: status, headers: ["Content-Type": MediaType.jsonUTF8], body: data)
    }

    /// A UTF-8 text body, `text/plain` unless another `contentType` is given (e.g. Prometheus text).
    public static func text(
        _ text: String,
        status: HTTPStatus = .ok,
        contentType: String = "text/plain; charset=utf-8"
    ) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType], body: Data(text.utf8))
    }

    /// Bytes with an explicit content type (an image, a download).
    public static func file(_ data: Data, contentType: String, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType], body: data)
    }

    /// The contents of the file at `url`, typed by its extension unless `contentType` is given.
    /// Throws `HTTPError.notFound` when the file cannot be read.
    public static func file(at url: URL, contentType: String? = nil) throws -> HTTPResponse {
        guard let data = try? Data(contentsOf: url) else {
            throw HTTPError.notFound("no file \(url.lastPathComponent)")
        }
        return .file(data, contentType: contentType ?? MediaType.forFileExtension(url.pathExtension))
    }

    /// An empty body, `204 No Content` unless told otherwise.
    public static func empty(status: HTTPStatus = .noContent) -> HTTPResponse {
        HTTPResponse(status: status)
    }

    /// The encoder `json(_:)` uses by default: ISO 8601 dates, no escaped slashes, sorted keys
    /// (stable output makes responses diffable and tests simple).
    public static func makeJSONEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}
