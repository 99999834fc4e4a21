import Foundation

/// Where a tuning job is:
///
/// ```
/// queued ──► running ──► evaluating ──► done
///   │           │  ▲          │
///   │           │  └─ queued ◄┤        (re-queued: a crashed or stopping tuner; the attempt starts over)
///   └───────────┴─────────────┴──► failed(reason)
/// ```
/// `done` and `failed` are final.
public enum JobState: String, Codable, Sendable, CaseIterable {
    case queued, running, evaluating, done, failed

    /// Whether the job has more to do (the server re-queues these on start-up).
    public var isUnfinished: Bool { self == .queued || self == .running || self == .evaluating }

    /// The edges of the state machine above.
    public func canMove(to next: JobState) -> Bool {
        switch (self, next) {
        case (.queued, .running), (.queued, .failed): true
        case (.running, .evaluating), (.running, .failed), (.running, .queued): true
        case (.evaluating, .done), (.evaluating, .failed), (.evaluating, .queued): true
        default: false
        }
    }
}

/// Training progress as the tuner reports it.
public struct JobProgress: Codable, Sendable, Equatable {
    public var step: Int
    public var total: Int
    public var loss: Double?
    /// Estimated seconds to the end of training.
    public var etaSeconds: Double?

    public init(step: Int, total: Int, loss: Double? = nil, etaSeconds: Double? = nil) {
        self.step = step
        self.total = total
        self.loss = loss
        self.etaSeconds = etaSeconds
    }

    enum CodingKeys: String, CodingKey {
        case step, total, loss
        case etaSeconds = "eta_s"
    }
}

/// A tuning job: the contents of `jobs/<id>.json`, replaced atomically on every change.
public struct JobRecord: Codable, Sendable, Equatable {
    public var format: Int
    public var id: String
    public var taskId: String
    /// The strategy asked for with the push; nil for the server's default.
    public var strategy: String?
    public var state: JobState
    /// The current attempt's training progress; cleared when the job is (re-)queued.
    public var progress: JobProgress?
    /// Why the job failed (state `failed` only).
    public var error: String?
    /// The snapshot the job produced (state `done`).
    public var snapshot: String?
    /// Whether that snapshot was promoted to active (state `done`); false means it is kept as a candidate.
    public var promoted: Bool?
    public var createdAt: Date
    public var updatedAt: Date
    /// When the current (or last) attempt started running.
    public var startedAt: Date?
    public var finishedAt: Date?
    /// How many times the job has been started; above 1 after crashes or re-queues.
    public var attempts: Int
    /// The lease token of the writer running it (states `running`, `evaluating`). Recovery re-queues the job
    /// when that writer is gone.
    public var owner: String?

    init(id: String, taskId: String, strategy: String?, createdAt: Date) {
        format = 1
        self.id = id
        self.taskId = taskId
        self.strategy = strategy
        state = .queued
        self.createdAt = createdAt
        updatedAt = createdAt
        attempts = 0
    }

    enum CodingKeys: String, CodingKey {
        case format, id, strategy, state, progress, error, snapshot, promoted, attempts, owner
        case taskId = "task_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }
}
