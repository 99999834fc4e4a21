/// Everything that can go wrong reading or writing a dataset, with enough context to fix the file.
///
/// `file` is a path; `location` names the place inside it, e.g. `line 12` of a `data.jsonl` or
/// `entry 3 (id "abc")` of a conversation file.
public enum DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The path given does not exist.
    case notFound(path: String)
    /// A folder with neither `data.jsonl` nor a `*.json` conversation file.
    case missingDataFile(directory: String)
    /// A folder without `data.jsonl` but with several `*.json` files: which one is meant is unclear.
    case ambiguousDataFiles(directory: String, candidates: [String])
    /// A file that is neither `.jsonl` nor `.json`.
    case unsupportedFile(path: String)
    /// The file system refused (permissions, I/O error).
    case unreadable(path: String, reason: String)
    /// Not valid JSON (or not UTF-8) at this place.
    case malformedJSON(file: String, location: String, reason: String)
    /// A required field is absent.
    case missingField(file: String, location: String, field: String)
    /// A field has the wrong JSON type.
    case wrongType(file: String, location: String, field: String, expected: String, found: String)
    /// A field has the right type but an unusable value (empty question, unsafe image path, a human turn
    /// without a reply, ...).
    case invalidValue(file: String, location: String, field: String, reason: String)
    /// The data file holds no items.
    case empty(file: String)
    /// An item's image file does not exist; `location` says which item.
    case missingImage(file: String, location: String, image: String)
    /// An item's image exists but does not decode.
    case badImage(image: String, reason: String)
    /// The destination of a write already holds files (and overwriting was not asked for).
    case destinationExists(path: String)
    /// Writing failed; the destination is left as it was.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "dataset not found: \(path) does not exist"
        case .missingDataFile(let directory):
            return "no dataset in \(directory): expected data.jsonl or one LLaVA-style conversation .json file"
        case .ambiguousDataFiles(let directory, let candidates):
            return "no data.jsonl in \(directory) and several .json files (\(candidates.joined(separator: ", "))): "
                + "pass the conversation file itself"
        case .unsupportedFile(let path):
            return "unsupported dataset file \(path): expected a folder, a data.jsonl file or a conversation .json file"
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .malformedJSON(let file, let location, let reason):
            return "\(file), \(location): malformed JSON: \(reason)"
        case .missingField(let file, let location, let field):
            return "\(file), \(location): missing field \"\(field)\""
        case .wrongType(let file, let location, let field, let expected, let found):
            return "\(file), \(location): field \"\(field)\" must be \(expected), found \(found)"
        case .invalidValue(let file, let location, let field, let reason):
            return "\(file), \(location): invalid \"\(field)\": \(reason)"
        case .empty(let file):
            return "\(file) holds no items"
        case .missingImage(let file, let location, let image):
            return "\(file), \(location): image \(image) does not exist"
        case .badImage(let image, let reason):
            return "image \(image) cannot be decoded: \(reason)"
        case .destinationExists(let path):
            return "\(path) already exists and is not empty"
        case .writeFailed(let path, let reason):
            return "cannot write \(path): \(reason)"
        }
    }
}
