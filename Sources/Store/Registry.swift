import Foundation

/// `registry.json`: which snapshot serves, what it replaced, and what waits for a decision.
///
/// Replaced atomically under the writer lock; every change bumps `generation`. Replicas read it without any lock.
public struct Registry: Codable, Sendable, Equatable {
    public var format: Int
    /// The serving snapshot; nil until the first promotion (the server then serves its base model).
    public var active: String?
    /// Previously active snapshots, most recent last: `rollback()` pops the last one back into `active`.
    /// Bounded by `Registry.historyLimit`.
    public var history: [String]
    /// Committed snapshots kept for inspection and comparison but not serving, oldest first.
    public var candidates: [String]
    public var generation: Int
    public var updatedAt: Date?
    /// An operator's note per snapshot id ("before the March relabel"); snapshots themselves are immutable.
    public var labels: [String: String]
    /// The canary in progress, so that replicas split their traffic the same way; nil when none.
    public var canary: Canary?

    /// A candidate snapshot taking a share of the queries that name no snapshot (and shadowing a share).
    public struct Canary: Codable, Sendable, Equatable {
        public var candidate: String
        public var active: String
        public var traffic: Double
        public var shadow: Double
        public var startedAt: Date

        public init(candidate: String, active: String, traffic: Double, shadow: Double, startedAt: Date) {
            self.candidate = candidate
            self.active = active
            self.traffic = traffic
            self.shadow = shadow
            self.startedAt = startedAt
        }

        enum CodingKeys: String, CodingKey { case candidate, active, traffic, shadow, startedAt = "started_at" }
    }

    public static let historyLimit = 64
    public static let empty = Registry(format: 1, active: nil, history: [], candidates: [], generation: 0, updatedAt: nil, labels: [:])

    public init(format: Int, active: String?, history: [String], candidates: [String], generation: Int, updatedAt: Date?,
                labels: [String: String] = [:]) {
        self.format = format
        self.active = active
        self.history = history
        self.candidates = candidates
        self.generation = generation
        self.updatedAt = updatedAt
        self.labels = labels
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        format = try container.decode(Int.self, forKey: .format)
        active = try container.decodeIfPresent(String.self, forKey: .active)
        history = try container.decode([String].self, forKey: .history)
        candidates = try container.decode([String].self, forKey: .candidates)
        generation = try container.decode(Int.self, forKey: .generation)
        updatedAt = try container.decodeIfPresent(Date.self, forKey: .updatedAt)
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]  // registries written before labels
        canary = try container.decodeIfPresent(Canary.self, forKey: .canary)
    }

    /// The snapshot `rollback()` would make active.
    public var previousActive: String? { history.last }

    enum CodingKeys: String, CodingKey {
        case format, active, history, candidates, generation, labels, canary
        case updatedAt = "updated_at"
    }
}

/// Cheap change detection for `registry.json`, for read-only replicas that hot-swap when the tuner promotes.
///
/// Every write replaces the file by rename, so a new write shows up as a new inode (or a new mtime/size);
/// `poll()` costs one `stat` when nothing changed and reads the file only when something did.
public struct RegistryWatcher: Sendable {
    private struct Stamp: Equatable {
        var device: UInt64, inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int
    }

    public let directory: URL
    private var stamp: Stamp?
    private var last: Registry?
    private var polled = false

    public init(directory: URL) { self.directory = directory }

    /// The registry if it changed since the previous call (the first call always returns it), else nil.
    public mutating func poll() throws -> Registry? {
        let url = directory.appendingPathComponent(StoreLayout.registryName)
        var info = stat()
        let current: Stamp? = stat(url.path, &info) == 0
            ? Stamp(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                    seconds: Int(Self.modified(info).tv_sec), nanoseconds: Int(Self.modified(info).tv_nsec))
            : nil
        if polled, current == stamp { return nil }
        let registry = try Store.readRegistry(directory: directory)
        let first = !polled
        polled = true
        stamp = current
        guard first || registry != last else { return nil }
        last = registry
        return registry
    }

    private static func modified(_ info: stat) -> timespec {
        #if os(Linux)
        info.st_mtim
        #else
        info.st_mtimespec
        #endif
    }
}
