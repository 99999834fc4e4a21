import HTTP

/// Errors of the server itself (configuration, readiness), as opposed to a request's.
enum ServerError: Error, CustomStringConvertible {
    case configuration(String)
    case notReady(String)

    var description: String {
        switch self {
        case let .configuration(message): return "configuration: \(message)"
        case let .notReady(message): return "not ready: \(message)"
        }
    }
}
