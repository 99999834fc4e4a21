/// A parsed media type such as `multipart/form-data; boundary="abc"`: type and subtype lower-cased,
/// parameter names lower-cased, parameter values unquoted.
public struct MediaType: Sendable, Equatable, CustomStringConvertible {
    public var type: String
    public var subtype: String
    public var parameters: [String: String]

    public init(type: String, subtype: String, parameters: [String: String] = [:]) {
        self.type = type.lowercased()
        self.subtype = subtype.lowercased()
        self.parameters = parameters
    }

    /// Parses a `Content-Type` value; nil when there is no `type/subtype` or a parameter is malformed.
    public init?(parsing text: String) {
        let fields = Self.splitParameters(text)
        guard let essence = fields.first else { return nil }
        let halves = essence.split(separator: "/", omittingEmptySubsequences: false)
        guard halves.count == 2, Self.isToken(halves[0]), Self.isToken(halves[1]) else { return nil }
        var parameters: [String: String] = [:]
        for field in fields.dropFirst() where !field.isEmpty {
            guard let equals = field.firstIndex(of: "=") else { return nil }
            let name = field[..<equals].trimmingSpaces()
            guard Self.isToken(name), let value = Self.unquote(field[field.index(after: equals)...].trimmingSpaces())
            else { return nil }
            parameters[name.lowercased()] = value
        }
        self.init(type: String(halves[0]), subtype: String(halves[1]), parameters: parameters)
    }

    /// `type/subtype` without parameters.
    public var essence: String { "\(type)/\(subtype)" }

    public var description: String {
        ([essence] + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }).joined(separator: "; ")
    }

    /// Whether this type is covered by `pattern` (`application/json`, `image/*` or `*/*`), ignoring
    /// parameters.
    public func matches(_ pattern: String) -> Bool {
        guard let other = MediaType(parsing: pattern) else { return false }
        return (other.type == "*" || other.type == type) && (other.subtype == "*" || other.subtype == subtype)
    }

    /// The value used for JSON bodies.
    public static let jsonUTF8 = "application/json; charset=utf-8"

    /// The content type for a file extension (case-insensitive); `application/octet-stream` if unknown.
    public static func forFileExtension(_ pathExtension: String) -> String {
        switch pathExtension.lowercased() {
        case "html", "htm": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "json", "map": "application/json; charset=utf-8"
        case "txt", "md": "text/plain; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "jpg", "jpeg": "image/jpeg"
        case "gif": "image/gif"
        case "webp": "image/webp"
        case "ico": "image/x-icon"
        case "wasm": "application/wasm"
        case "woff": "font/woff"
        case "woff2": "font/woff2"
        case "pdf": "application/pdf"
        case "yaml", "yml": "application/yaml"
        default: "application/octet-stream"
        }
    }

    // MARK: Parsing helpers

    /// Splits at `;` outside quoted strings and trims each field.
    private static func splitParameters(_ text: String) -> [Substring] {
        var fields: [Substring] = []
        var start = text.startIndex
        var inQuotes = false
        var escaped = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if escaped {
                escaped = false
            } else if inQuotes && character == "\\" {
                escaped = true
            } else if character == "\"" {
                inQuotes.toggle()
            } else if character == ";" && !inQuotes {
                fields.append(text[start..<index].trimmingSpaces())
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        fields.append(text[start...].trimmingSpaces())
        return fields
    }

    /// A quoted-string's content with escapes removed, or a bare token as is; nil when malformed.
    static func unquote(_ value: Substring) -> String? {
        guard value.first == "\"" else { return isToken(value) ? String(value) : nil }
        guard value.count >= 2, value.last == "\"" else { return nil }
        var result = ""
        var escaped = false
        for character in value.dropFirst().dropLast() {
            if escaped {
                result.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                return nil
            } else {
                result.append(character)
            }
        }
        return escaped ? nil : result
    }

    /// RFC 9110 token characters.
    static func isToken(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }
}

extension HTTPRequest {
    /// The request's media type if it matches one of `allowed` (patterns like `application/json`,
    /// `multipart/form-data` or `image/*`); otherwise throws a 415 naming what is accepted.
    @discardableResult
    public func requireContentType(_ allowed: [String]) throws(HTTPError) -> MediaType {
        let list = allowed.joined(separator: ", ")
        guard let raw = headers["Content-Type"] else {
            throw .unsupportedMediaType("missing Content-Type; expected one of: \(list)")
        }
        guard let type = MediaType(parsing: raw) else {
            throw .unsupportedMediaType("malformed Content-Type \"\(raw)\"; expected one of: \(list)")
        }
        guard allowed.contains(where: type.matches) else {
            throw .unsupportedMediaType("Content-Type \(type.essence) is not accepted here; expected one of: \(list)")
        }
        return type
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
