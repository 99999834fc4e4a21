import Foundation

/// How a snapshot came to be.
public enum SnapshotKind: String, Codable, Sendable {
    /// A base model brought into the store (e.g. the shipped default model), the root of a lineage.
    case base
    /// The result of a tuning job.
    case tuned
    /// Any other model directory copied in by an operator.
    case imported
}

/// What the caller says about a snapshot when committing it; the store adds id, parent and time.
public struct SnapshotDetails: Sendable, Equatable {
    public var kind: SnapshotKind
    /// The task names the model knows, in the order it learned them (as the model's own manifest lists them).
    public var tasks: [String]
    /// The store ids of the pushed tasks that went into it, in order.
    public var taskIds: [String]
    public var strategy: String?
    /// Accuracy (0…1) per task name, measured before commit.
    public var accuracy: [String: Double]
    /// The job that produced it, if any.
    public var jobId: String?
    /// The counts behind `accuracy`: held-out items right and in all, per task name.
    public var heldOut: [String: HeldOutScore]
    /// The task this snapshot learned, on its parent (before it learned it), per task name.
    public var before: [String: HeldOutScore]

    public init(kind: SnapshotKind, tasks: [String] = [], taskIds: [String] = [], strategy: String? = nil,
                accuracy: [String: Double] = [:], jobId: String? = nil, before: [String: HeldOutScore] = [:],
                heldOut: [String: HeldOutScore] = [:]) {
        self.kind = kind
        self.tasks = tasks
        self.taskIds = taskIds
        self.strategy = strategy
        self.accuracy = accuracy
        self.jobId = jobId
        self.before = before
        self.heldOut = heldOut
    }
}

/// `snapshots/<id>/metadata.json`. Final at commit, like the rest of the snapshot: the accuracy row is the one
/// the tuning job measured (row t of the continual-learning matrix A[t][j]); later measurements belong to a new
/// snapshot or to the caller's own records, never to this file.
public struct SnapshotMetadata: Codable, Sendable, Equatable {
    public var format: Int
    public var id: String
    public var parent: String?
    public var kind: SnapshotKind
    public var tasks: [String]
    public var taskIds: [String]
    public var strategy: String?
    public var accuracy: [String: Double]
    public var jobId: String?
    /// Held-out counts behind `accuracy` (absent in snapshots committed before they were recorded).
    public var heldOut: [String: HeldOutScore]?
    /// The learned task's held-out counts on the parent snapshot.
    public var before: [String: HeldOutScore]?
    public var createdAt: Date

    init(id: String, parent: String?, details: SnapshotDetails, createdAt: Date) {
        format = 1
        self.id = id
        self.parent = parent
        kind = details.kind
        tasks = details.tasks
        taskIds = details.taskIds
        strategy = details.strategy
        accuracy = details.accuracy
        jobId = details.jobId
        heldOut = details.heldOut.isEmpty ? nil : details.heldOut
        before = details.before.isEmpty ? nil : details.before
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case format, id, parent, kind, tasks, strategy, accuracy, before
        case heldOut = "held_out"
        case taskIds = "task_ids"
        case jobId = "job_id"
        case createdAt = "created_at"
    }
}

/// A snapshot being written: a private directory the caller fills with model files, then hands to
/// `Store.commit(_:_:)` (or `Store.discard(_:)`). It lives at `snapshots/.draft.<writer token>.<id>/`, one level below
/// the data directory like the final `snapshots/<id>/`, so paths relative to it stay valid after the rename.
public struct SnapshotDraft: Sendable, Equatable {
    public let id: String
    public let parent: String?
    public let directory: URL
}
