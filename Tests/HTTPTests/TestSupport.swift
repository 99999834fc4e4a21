import Foundation
import Logging
import Synchronization
@testable import HTTP

/// A log handler that keeps messages in memory, to check what the router logs.
struct CapturingLogHandler: LogHandler {
    final class Store: Sendable {
        let messages = Mutex<[(Logger.Level, String)]>([])
        var all: [(Logger.Level, String)] { messages.withLock { $0 } }
    }

    let store: Store
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.messages.withLock { $0.append((event.level, event.message.description)) }
    }

    static func logger() -> (Logger, Store) {
        let store = Store()
        return (Logger(label: "test") { _ in CapturingLogHandler(store: store) }, store)
    }
}

/// A logger that prints nothing below error.
func quietLogger() -> Logger {
    var logger = Logger(label: "http-test")
    logger.logLevel = .error
    return logger
}

/// The server's logger in tests: quiet, or everything with `HTTP_TEST_LOG=1` in the environment.
func serverLogger() -> Logger {
    var logger = quietLogger()
    if ProcessInfo.processInfo.environment["HTTP_TEST_LOG"] != nil { logger.logLevel = .trace }
    return logger
}

extension HTTPResponse {
    /// The decoded `{"error": {"code", "message"}}` body, if it is one.
    var errorBody: (code: String, message: String)? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let error = object["error"] as? [String: Any],
              let code = error["code"] as? String, let message = error["message"] as? String
        else { return nil }
        return (code, message)
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}
