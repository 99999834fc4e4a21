import Foundation

/// A parsed JSON value.
///
/// tokenizer.json is read with this small parser rather than `JSONSerialization`/`Codable` for two reasons:
/// objects keep their keys in file order and with their exact Unicode scalars (a Swift `Dictionary<String, _>`
/// would merge canonically equivalent keys such as "é" and "e\u{301}", which are different vocabulary
/// entries), and a 150k-entry vocabulary parses in one pass over the bytes.
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// The member named `key` of an object (first occurrence, exact scalar comparison), else nil.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        for member in members where member.key.unicodeScalars.elementsEqual(key.unicodeScalars) {
            return member.value
        }
        return nil
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    var int: Int? {
        if case .number(let value) = self { return Int(exactly: value) }
        return nil
    }

    var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    var members: [(key: String, value: JSONValue)]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// Parses a complete JSON document.
    static func parse(_ data: Data) throws -> JSONValue {
        var parser = JSONParser(bytes: [UInt8](data))
        return try parser.parseDocument()
    }
}

/// A recursive-descent JSON parser over UTF-8 bytes (RFC 8259, plus tolerance for a leading BOM).
private struct JSONParser {
    let bytes: [UInt8]
    var position = 0
    var depth = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
    }

    mutating func parseDocument() throws -> JSONValue {
        let value = try parseValue()
        skipWhitespace()
        guard position == bytes.count else { throw error("trailing characters after the JSON value") }
        return value
    }

    private func error(_ message: String) -> TokenizerError {
        .malformed("invalid JSON at byte \(position): \(message)")
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws -> JSONValue {
        skipWhitespace()
        guard position < bytes.count else { throw error("unexpected end of input") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        default: return .number(try parseNumber())
        }
    }

    private mutating func expectLiteral(_ literal: String) throws {
        for byte in literal.utf8 {
            guard position < bytes.count, bytes[position] == byte else { throw error("expected \(literal)") }
            position += 1
        }
    }

    private mutating func enter() throws {
        depth += 1
        // Deep nesting is never legitimate in these files; refuse it rather than exhaust the stack.
        guard depth <= 512 else { throw error("nesting deeper than 512 levels") }
    }

    private mutating func parseObject() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a string key")
            }
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            members.append((key, try parseValue()))
            skipWhitespace()
            guard position < bytes.count else { throw error("unterminated object") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            } else {
                throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue())
            skipWhitespace()
            guard position < bytes.count else { throw error("unterminated array") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            } else {
                throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func parseString() throws -> String {
        position += 1  // opening quote
        var utf8: [UInt8] = []
        var runStart = position
        while true {
            guard position < bytes.count else { throw error("unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                utf8.append(contentsOf: bytes[runStart..<position])
                position += 1
                break
            }
            if byte < 0x20 { throw error("control character in string") }
            if byte != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            utf8.append(contentsOf: bytes[runStart..<position])
            position += 1
            guard position < bytes.count else { throw error("unterminated escape") }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""): utf8.append(0x22)
            case UInt8(ascii: "\\"): utf8.append(0x5C)
            case UInt8(ascii: "/"): utf8.append(0x2F)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800..<0xDC00).contains(code) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                       bytes[position + 1] == UInt8(ascii: "u") {
                        position += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        throw error("unpaired surrogate")
                    }
                } else if (0xDC00..<0xE000).contains(code) {
                    throw error("unpaired surrogate")
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid code point") }
                utf8.append(contentsOf: UTF8.encode(scalar)!)
            default:
                throw error("unknown escape")
            }
            runStart = position
        }
        guard let string = String(validating: utf8, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
        return string
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("bad hex digit in \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    private mutating func parseNumber() throws -> Double {
        let start = position
        while position < bytes.count, "0123456789-+.eE".utf8.contains(bytes[position]) { position += 1 }
        guard position > start, let text = String(bytes: bytes[start..<position], encoding: .ascii),
              let value = Double(text) else {
            throw error("invalid value")
        }
        return value
    }
}

/// One component's JSON object (a normalizer, a model, …) with typed accessors whose errors name the
/// component and the field.
struct ComponentConfig {
    /// Where the object sits in tokenizer.json, e.g. "normalizer" or "pre_tokenizer.pretokenizers[1]".
    let path: String
    let json: JSONValue

    init(path: String, json: JSONValue) {
        self.path = path
        self.json = json
    }

    /// The object's "type" field.
    func type() throws -> String {
        guard let type = json["type"]?.string else { throw TokenizerError.malformed("\(path) has no \"type\" field") }
        return type
    }

    func has(_ key: String) -> Bool {
        guard let value = json[key] else { return false }
        return !value.isNull
    }

    func string(_ key: String) throws -> String {
        guard let value = json[key]?.string else { throw missing(key, "a string") }
        return value
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let string = value.string else { throw missing(key, "a string") }
        return string
    }

    func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        guard let value = json[key], !value.isNull else { return defaultValue }
        guard let bool = value.bool else { throw missing(key, "true or false") }
        return bool
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let bool = value.bool else { throw missing(key, "true or false") }
        return bool
    }

    func int(_ key: String, default defaultValue: Int? = nil) throws -> Int {
        guard let value = json[key], !value.isNull else {
            if let defaultValue { return defaultValue }
            throw missing(key, "an integer")
        }
        guard let int = value.int else { throw missing(key, "an integer") }
        return int
    }

    /// The single Unicode scalar in field `key` (Metaspace's replacement, Strip's content).
    func scalar(_ key: String, default defaultValue: Unicode.Scalar? = nil) throws -> Unicode.Scalar {
        guard let value = json[key], !value.isNull else {
            if let defaultValue { return defaultValue }
            throw missing(key, "a one-character string")
        }
        guard let string = value.string, string.unicodeScalars.count == 1 else {
            throw missing(key, "a one-character string")
        }
        return string.unicodeScalars.first!
    }

    /// The array in field `key`, each element wrapped with its own path.
    func children(_ key: String) throws -> [ComponentConfig] {
        guard let array = json[key]?.array else { throw missing(key, "an array") }
        return array.enumerated().map { ComponentConfig(path: "\(path).\(key)[\($0.offset)]", json: $0.element) }
    }

    func missing(_ key: String, _ expected: String) -> TokenizerError {
        .malformed("\(path).\(key) should be \(expected)")
    }

    func unsupported() -> TokenizerError {
        .unsupported(component: path, type: (try? type()) ?? "?")
    }
}
