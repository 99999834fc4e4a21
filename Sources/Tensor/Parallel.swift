import Foundation

/// Splits elementwise and row-wise work over the cores. Matrix products get their threads from OpenBLAS;
/// everything between them would otherwise run on one core while the other waits.
public enum Parallel {
    /// Worker count (the machine's active cores, at most 8).
    public static let workers = max(1, min(8, ProcessInfo.processInfo.activeProcessorCount))

    /// Below this many scalar operations one thread is faster than waking another.
    public static let minimumWork = 1 << 15

    /// Calls `body` on disjoint ranges covering 0 ..< count, concurrently when the work is large enough.
    @inlinable
    public static func forRanges(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        let chunks = work >= minimumWork ? min(workers, count) : 1
        guard chunks > 1 else {
            if count > 0 { body(0 ..< count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks, end = count * (chunk + 1) / chunks
                if start < end { box.value(start ..< end) }
            }
        }
    }
}

/// Lets a non-Sendable closure cross into concurrentPerform, which does not outlive the call.
public struct UncheckedBox<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
