import Dispatch
import Foundation

/// Heavy request validation (decoding a push's images) runs here, one at a time on a thread of its own,
/// never on the concurrency pool's few threads: two large pushes cannot stall health checks and queries.
enum Validation {
    private static let queue = DispatchQueue(label: "mneme-validation", qos: .utility)

    static func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
