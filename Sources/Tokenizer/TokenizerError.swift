/// Why a tokenizer could not be loaded.
///
/// Encoding and decoding never fail once a tokenizer is built; every problem with a file is reported here,
/// when it is loaded, naming the component and field at fault.
public enum TokenizerError: Error, CustomStringConvertible, Sendable {
    /// A component "type" (or model) this implementation does not support, e.g. a Unigram model.
    case unsupported(component: String, type: String)
    /// The file is not valid JSON or a field has the wrong shape.
    case malformed(String)
    /// A component refers to a token that is not in the vocabulary (a merge, a template's special token).
    case unknownToken(component: String, token: String)
    /// A regular expression in the file does not compile.
    case invalidPattern(component: String, pattern: String, reason: String)
    /// The file could not be read.
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unsupported(let component, let type):
            return "tokenizer: unsupported \(component) type \"\(type)\""
        case .malformed(let message):
            return "tokenizer: malformed tokenizer.json: \(message)"
        case .unknownToken(let component, let token):
            return "tokenizer: \(component) refers to \"\(token)\", which is not in the vocabulary"
        case .invalidPattern(let component, let pattern, let reason):
            return "tokenizer: \(component) has an invalid pattern \(pattern): \(reason)"
        case .unreadable(let path, let reason):
            return "tokenizer: cannot read \(path): \(reason)"
        }
    }
}
