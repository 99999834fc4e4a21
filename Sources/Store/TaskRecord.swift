import Tensor
import Foundation

/// One labelled item as a client pushed it: the encoded image bytes (PNG, JPEG, …, stored as received) and its
/// question and answer. The store does not decode images; the HTTP layer validates them before pushing.
public struct PushedItem: Sendable, Equatable {
    public var image: Data
    public var question: String
    public var answer: String

    public init(image: Data, question: String, answer: String) {
        self.image = image
        self.question = question
        self.answer = answer
    }
}

/// A stored task: the contents of `tasks/<id>/manifest.json`. Written once, before the task directory is renamed
/// into place, and never changed after.
public struct TaskRecord: Codable, Sendable, Equatable {
    public var format: Int
    public var id: String
    public var name: String
    public var createdAt: Date
    public var itemCount: Int
    /// Indices into the task's items (line numbers of `data.jsonl`), ascending.
    public var trainIndices: [Int]
    /// The held-out evaluation part, ascending; disjoint from `trainIndices`, together they cover every item.
    public var evalIndices: [Int]
    /// The fraction asked for; `evalIndices.count` follows `TaskSplit.evalCount`.
    public var evalFraction: Double
    /// Lower-case hex SHA-256 over the items (see `TaskSplit.contentHash`); also seeds the split.
    public var contentHash: String
    /// The strategy the client asked for, nil for the server's default.
    public var strategy: String?
    /// The tuning job created with the task; recovery recreates it from here if a crash lost its file.
    public var jobId: String
    /// The answered queries whose feedback the items came from (a task made from corrections), in item order.
    public var feedback: [String]?
    /// A revision: the task (id) whose learning this one continues, under the same name — its items are the new
    /// ones only (users' corrections); training also uses the revised task's (`Store.taskChain`).
    public var revises: String?

    public var evalCount: Int { evalIndices.count }

    enum CodingKeys: String, CodingKey {
        case format, id, name, strategy
        case createdAt = "created_at"
        case itemCount = "items"
        case trainIndices = "train"
        case evalIndices = "eval"
        case evalFraction = "eval_fraction"
        case contentHash = "content_hash"
        case jobId = "job_id"
        case feedback, revises
    }
}

/// One stored item of a task: a line of `tasks/<id>/data.jsonl` with its image file resolved.
public struct TaskItem: Sendable, Equatable {
    /// Position in the task (what the split's indices refer to).
    public var index: Int
    public var imageURL: URL
    public var question: String
    public var answer: String

    /// The image bytes exactly as pushed.
    public func imageData() throws -> Data {
        guard let data = try Durable.read(imageURL) else {
            throw StoreError.corrupt(path: imageURL.path, reason: "the item's image file is missing")
        }
        return data
    }
}

/// The on-disk line of `data.jsonl`, in the docs/DESIGN.md §5 dataset format so a task directory is itself a dataset.
struct ItemLine: Codable {
    var image: String
    var question: String
    var answer: String
}

/// How a task's items are divided into training and held-out evaluation parts.
public enum TaskSplit {
    /// Held-out items are at least this many when the task is large enough (see `evalCount`).
    public static let minimumEvalItems = 50

    /// How many of `count` items are held out for `fraction`:
    /// `max(⌈fraction·count⌉, 50)`, but the minimum of 50 never takes more than half the items;
    /// at least one item is held out and one kept for training when `fraction > 0` and `count ≥ 2`;
    /// `fraction == 0` holds out nothing.
    public static func evalCount(items count: Int, fraction: Double) -> Int {
        guard fraction > 0, count >= 2 else { return 0 }
        let asked = Int((fraction * Double(count)).rounded(.up))
        let withMinimum = max(asked, min(minimumEvalItems, count / 2))
        return min(max(withMinimum, 1), count - 1)
    }

    /// A deterministic split: a Fisher–Yates shuffle of `0..<count` driven by SplitMix64 from `seed`; the first
    /// `evalCount` positions are held out. Both parts are returned ascending.
    public static func split(items count: Int, fraction: Double, seed: UInt64) -> (train: [Int], eval: [Int]) {
        var order = Array(0..<count)
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
        }
        let held = evalCount(items: count, fraction: fraction)
        return (Array(order[held...]).sorted(), Array(order[..<held]).sorted())
    }

    /// SHA-256 over the items in order: for each, the image, question and answer bytes, each preceded by its
    /// length as a little-endian UInt64. Task names do not enter it: the same items pushed twice hash the same.
    public static func contentHash(_ items: [PushedItem]) -> String {
        var hasher = SHA256()
        func add(_ bytes: some ContiguousBytes) {
            bytes.withUnsafeBytes { raw in
                withUnsafeBytes(of: UInt64(raw.count).littleEndian) { hasher.update($0) }
                hasher.update(raw)
            }
        }
        for item in items {
            add(item.image)
            add(Array(item.question.utf8))
            add(Array(item.answer.utf8))
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The split's seed: the first eight bytes of the content hash.
    static func seed(fromHash hash: String) -> UInt64 {
        UInt64(hash.prefix(16), radix: 16) ?? 0
    }
}
