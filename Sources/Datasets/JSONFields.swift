import Foundation

/// Typed access to one JSON object's fields, throwing `DatasetError`s that name the file, the place and the field.
struct JSONFields {
    let object: [String: Any]
    let file: String
    let location: String

    /// Parses `data` as one JSON object.
    static func parseObject(_ data: Data, file: String, location: String) throws -> JSONFields {
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw DatasetError.malformedJSON(file: file, location: location, reason: JSONFields.reason(error))
        }
        guard let object = value as? [String: Any] else {
            throw DatasetError.wrongType(file: file, location: location, field: "(item)", expected: "an object",
                                         found: JSONFields.typeName(value))
        }
        return JSONFields(object: object, file: file, location: location)
    }

    /// A required string field; `allowEmpty: false` also rejects strings that are only whitespace.
    func string(_ field: String, allowEmpty: Bool = false) throws -> String {
        guard let value = object[field], !(value is NSNull) else {
            throw DatasetError.missingField(file: file, location: location, field: field)
        }
        guard let text = JSONFields.string(value) else {
            throw DatasetError.wrongType(file: file, location: location, field: field, expected: "a string",
                                         found: JSONFields.typeName(value))
        }
        if !allowEmpty && text.allSatisfy(\.isWhitespace) {
            throw DatasetError.invalidValue(file: file, location: location, field: field, reason: "empty")
        }
        return text
    }

    /// An optional string field: `nil` when absent or null, an error when present with another type.
    func optionalString(_ field: String) throws -> String? {
        guard let value = object[field], !(value is NSNull) else { return nil }
        guard let text = JSONFields.string(value) else {
            throw DatasetError.wrongType(file: file, location: location, field: field, expected: "a string",
                                         found: JSONFields.typeName(value))
        }
        return text
    }

    /// The field's value, of any type, or `nil`.
    subscript(field: String) -> Any? { object[field] }

    /// JSONSerialization gives NSString on Linux and bridged String on Darwin; numbers never count as strings.
    static func string(_ value: Any) -> String? {
        if value is NSNumber { return nil }
        return value as? String
    }

    /// A JSON type name for messages.
    static func typeName(_ value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case is NSNumber:
            // Foundation hands JSON booleans over as its private __NSCFBoolean class on every platform.
            return String(describing: type(of: value)).contains("Boolean") ? "a boolean" : "a number"
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        default: return "\(type(of: value))"
        }
    }

    /// Foundation's parse error without the Cocoa boilerplate.
    static func reason(_ error: Error) -> String {
        let nsError = error as NSError
        if let detail = nsError.userInfo[NSDebugDescriptionErrorKey] as? String { return detail }
        return nsError.localizedDescription
    }
}
