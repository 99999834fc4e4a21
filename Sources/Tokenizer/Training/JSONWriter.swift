/// Deterministic JSON text for the files the trainer writes.
///
/// Objects keep their members in the order they were built (`JSONValue.object` is an ordered list), so the
/// same tokenizer always gives the same bytes, on every machine and every run — unlike `JSONSerialization`,
/// whose key order follows a hash table. The layout is fixed:
///
/// - two spaces of indentation per level, one member or element per line;
/// - an array whose elements are all scalars (a merge `["Ġ", "t"]`, a list of ids) stays on one line;
/// - `{}` and `[]` for empty containers; a newline at the end of the document;
/// - strings escape only what JSON requires (`"`, `\`, control characters) and keep every other Unicode
///   scalar as UTF-8, exactly as stored (no normalisation, so "é" and "e\u{301}" stay different keys);
/// - numbers are integers (the only numbers these files hold).
extension JSONValue {
    /// The document as UTF-8 bytes, ending with a newline.
    func serialized() -> [UInt8] {
        var output: [UInt8] = []
        write(to: &output, depth: 0)
        output.append(0x0A)
        return output
    }

    private var isContainer: Bool {
        switch self {
        case .array, .object: return true
        default: return false
        }
    }

    private func write(to output: inout [UInt8], depth: Int) {
        switch self {
        case .null:
            output.append(contentsOf: "null".utf8)
        case .bool(let value):
            output.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let value):
            // Only integers are ever written; a fraction here would be a programming mistake.
            guard let integer = Int(exactly: value) else { preconditionFailure("JSONWriter: non-integer number \(value)") }
            output.append(contentsOf: String(integer).utf8)
        case .string(let value):
            Self.writeString(value, to: &output)
        case .array(let elements):
            if elements.isEmpty {
                output.append(contentsOf: "[]".utf8)
            } else if !elements.contains(where: \.isContainer) {
                output.append(UInt8(ascii: "["))
                for (index, element) in elements.enumerated() {
                    if index > 0 { output.append(contentsOf: ", ".utf8) }
                    element.write(to: &output, depth: depth + 1)
                }
                output.append(UInt8(ascii: "]"))
            } else {
                output.append(UInt8(ascii: "["))
                for (index, element) in elements.enumerated() {
                    output.append(contentsOf: index == 0 ? "\n".utf8 : ",\n".utf8)
                    Self.indent(depth + 1, into: &output)
                    element.write(to: &output, depth: depth + 1)
                }
                output.append(0x0A)
                Self.indent(depth, into: &output)
                output.append(UInt8(ascii: "]"))
            }
        case .object(let members):
            if members.isEmpty {
                output.append(contentsOf: "{}".utf8)
                return
            }
            output.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                output.append(contentsOf: index == 0 ? "\n".utf8 : ",\n".utf8)
                Self.indent(depth + 1, into: &output)
                Self.writeString(member.key, to: &output)
                output.append(contentsOf: ": ".utf8)
                member.value.write(to: &output, depth: depth + 1)
            }
            output.append(0x0A)
            Self.indent(depth, into: &output)
            output.append(UInt8(ascii: "}"))
        }
    }

    private static func indent(_ depth: Int, into output: inout [UInt8]) {
        output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
    }

    private static func writeString(_ string: String, to output: inout [UInt8]) {
        let hexDigits = Array("0123456789abcdef".utf8)
        output.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): output.append(contentsOf: "\\\\".utf8)
            case 0x0A: output.append(contentsOf: "\\n".utf8)
            case 0x0D: output.append(contentsOf: "\\r".utf8)
            case 0x09: output.append(contentsOf: "\\t".utf8)
            case 0x08: output.append(contentsOf: "\\b".utf8)
            case 0x0C: output.append(contentsOf: "\\f".utf8)
            case 0x00..<0x20:
                output.append(contentsOf: "\\u00".utf8)
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0xF)])
            default:
                // Multi-byte UTF-8 sequences pass through byte by byte: JSON text is UTF-8.
                output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
