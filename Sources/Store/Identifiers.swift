import Foundation
import Synchronization

/// Identifiers of tasks, jobs, snapshots and answered queries: `t-20261123-031500123-k3f9q`.
///
/// A one-letter kind, the UTC date, the UTC time to the millisecond, and five random base-32 characters.
/// Fixed widths make lexical order creation order; within one process identifiers are strictly increasing
/// (a burst inside one millisecond borrows the next millisecond), across processes order holds to the
/// millisecond. Only `[0-9a-z-]`, so they are safe in URLs and as file names.
public enum StoreID {
    public enum Kind: Character, Sendable {
        case task = "t"
        case job = "j"
        case snapshot = "s"
        /// An answered query, for feedback (`POST /v1/feedback`).
        case query = "q"
    }

    private static let lastMillisecond = Mutex<Int64>(0)
    private static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")

    /// A new identifier of `kind`, never smaller than any this process made before.
    public static func make(_ kind: Kind, now: Date = Date()) -> String {
        let millisecond = lastMillisecond.withLock { last in
            last = max(last + 1, Int64((now.timeIntervalSince1970 * 1000).rounded(.down)))
            return last
        }
        return "\(kind.rawValue)-\(timestamp(millisecond))-\(randomSuffix(count: 5))"
    }

    /// Whether `id` can name an entry of the data directory: 1…128 characters from `[A-Za-z0-9_-]`, not starting
    /// with `-`. Everything looked up by a caller-given id goes through this, so `..` or `/` never reach a path.
    public static func isValid(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count), id.first != "-" else { return false }
        return id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x5F
        }
    }

    static func randomSuffix(count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }

    /// `yyyyMMdd-HHmmssSSS` in UTC.
    static func timestamp(_ millisecond: Int64) -> String {
        let seconds = millisecond / 1000
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second],
                                            from: Date(timeIntervalSince1970: TimeInterval(seconds)))
        func pad(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return pad(parts.year, 4) + pad(parts.month, 2) + pad(parts.day, 2) + "-"
            + pad(parts.hour, 2) + pad(parts.minute, 2) + pad(parts.second, 2) + pad(Int(millisecond % 1000), 3)
    }
}
