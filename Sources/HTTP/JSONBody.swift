import Foundation

/// Decoding JSON request bodies with a nesting limit and readable 400s.
///
/// `JSONDecoder` recurses once per nesting level and has no depth limit, so a body of a few hundred
/// kilobytes of `[` could exhaust a thread's stack. `checkDepth` scans the bytes iteratively first.
public enum JSONBody {
    /// The nesting limit used when none is given; far above any document the API expects.
    public static let defaultMaxDepth = 64

    /// Throws a 400 (`json_too_deep`) if arrays/objects in `data` nest deeper than `maxDepth`.
    /// Brackets inside strings are ignored; the scan does not otherwise validate the JSON.
    public static func checkDepth(_ data: Data, maxDepth: Int) throws(HTTPError) {
        let offendingOffset: Int? = data.withUnsafeBytes { bytes in
            var depth = 0
            var inString = false
            var escaped = false
            for (offset, byte) in bytes.enumerated() {
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""):
                    inString = true
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                    if depth > maxDepth { return offset }
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    depth -= 1
                default:
                    break
                }
            }
            return nil
        }
        if let offendingOffset {
            throw .badRequest("JSON body has nesting deeper than \(maxDepth) levels (at byte \(offendingOffset))",
                              code: "json_too_deep")
        }
    }

    /// Decodes `data` as `type` after the depth check; every failure is a 400 `HTTPError` whose message
    /// names the field (`items[1].image`) or, for syntax errors, the character position.
    public static func decode<T: Decodable>(
        _ type: T.Type,
        from data: Data,
        maxDepth: Int = defaultMaxDepth,
        decoder: JSONDecoder = JSONDecoder()
    ) throws(HTTPError) -> T {
        guard !data.isEmpty else { throw .badRequest("request body is empty; expected JSON", code: "invalid_json") }
        try checkDepth(data, maxDepth: maxDepth)
        do {
            return try decoder.decode(type, from: data)
        } catch let error as DecodingError {
            throw .invalidJSON(error, body: data)
        } catch {
            throw .badRequest("invalid JSON body: \(error)", code: "invalid_json")
        }
    }

    /// A one-line explanation of a `DecodingError` for API clients.
    ///
    /// Some decoders report syntax errors (and numbers that do not fit their type) as `dataCorrupted`
    /// at the root without a position; with `body` given, the syntax is re-checked with
    /// `JSONSerialization`, whose errors do carry the character offset.
    public static func describe(_ error: DecodingError, body: Data? = nil) -> String {
        switch error {
        case .typeMismatch(let expected, let context):
            return "wrong type for \(fieldName(context.codingPath)): expected \(typeName(expected))"
                + detail(context.debugDescription, skippingPrefix: "Expected to decode")
        case .valueNotFound(let expected, let context):
            return "missing value for \(fieldName(context.codingPath)): expected \(typeName(expected)), found null"
        case .keyNotFound(let key, let context):
            return "missing field \(fieldName(context.codingPath + [key]))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                if let body, let syntax = syntaxProblem(in: body) { return "malformed JSON: \(syntax)" }
                if body != nil && context.debugDescription.hasPrefix("The given data was not valid JSON") {
                    // Valid syntax, yet the decoder said "not valid JSON": a number that does not fit.
                    return "JSON body does not match the expected shape (a number out of range or not an integer?)"
                }
                return "invalid JSON body: \(context.debugDescription)"
            }
            return "invalid value for \(fieldName(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "invalid JSON body: \(error)"
        }
    }

    /// `items[2].image` from a coding path; `body` for the root.
    static func fieldName(_ path: [any CodingKey]) -> String {
        var name = ""
        for key in path {
            if let index = key.intValue, key.stringValue.hasPrefix("Index ") || key.stringValue == String(index) {
                name += "[\(index)]"
            } else {
                name += name.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return name.isEmpty ? "body" : name
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is UInt64.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        default:
            String(describing: type).hasPrefix("Array") ? "an array"
                : String(describing: type).hasPrefix("Dictionary") ? "an object" : String(describing: type)
        }
    }

    /// The decoder's own explanation after a dash, unless it only repeats what we already said.
    private static func detail(_ text: String, skippingPrefix prefix: String) -> String {
        guard let range = text.range(of: "but found ") else {
            return text.hasPrefix(prefix) || text.isEmpty ? "" : " (\(text))"
        }
        let found = text[range.upperBound...].replacingOccurrences(of: " instead.", with: "")
        return ", found \(found)"
    }

    /// The JSONSerialization syntax error for `data`, or nil if it parses.
    private static func syntaxProblem(in data: Data) -> String? {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return nil
        } catch {
            let description = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            return description ?? "\(error)"
        }
    }
}

extension HTTPRequest {
    /// Decodes the body as JSON into `type` with `JSONBody.decode` (depth limit, readable 400s).
    public func decodeJSON<T: Decodable>(
        _ type: T.Type,
        maxDepth: Int = JSONBody.defaultMaxDepth,
        decoder: JSONDecoder = JSONDecoder()
    ) throws(HTTPError) -> T {
        try JSONBody.decode(type, from: body, maxDepth: maxDepth, decoder: decoder)
    }
}
