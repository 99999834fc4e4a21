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

/// Items answered right out of a number of held-out items.
public struct HeldOutScore: Codable, Sendable, Equatable {
    public var correct: Int
    public var items: Int
    /// After this many optimiser steps (checks made while training).
    public var step: Int?

    public init(correct: Int, items: Int, step: Int? = nil) {
        self.correct = correct
        self.items = items
        self.step = step
    }

    public var accuracy: Double { items == 0 ? 0 : Double(correct) / Double(items) }
}

/// Training progress as the tuner reports it.
public struct JobProgress: Codable, Sendable, Equatable {
    public var step: Int
    /// The step budget; training usually stops earlier, when held-out accuracy stops rising.
    public var total: Int
    public var loss: Double?
    /// Estimated seconds to the end of the budget (an upper bound).
    public var etaSeconds: Double?
    /// Held-out accuracy as training went, one check at a time.
    public var checks: [HeldOutScore]?

    public init(step: Int, total: Int, loss: Double? = nil, etaSeconds: Double? = nil, checks: [HeldOutScore]? = nil) {
        self.step = step
        self.total = total
        self.loss = loss
        self.etaSeconds = etaSeconds
        self.checks = checks
    }

    enum CodingKeys: String, CodingKey {
        case step, total, loss, checks
        case etaSeconds = "eta_s"
    }
}

/// What a finished job learned: its task's held-out items on the parent snapshot (before) and on the new one
/// (after), the verdict and a sentence for the user.
public struct JobOutcome: Codable, Sendable, Equatable {
    public var before: HeldOutScore
    public var after: HeldOutScore
    /// `learned`, `not_learned` or `unmeasured` (too few held-out items to tell).
    public var verdict: String
    public var summary: String
    /// Optimiser steps run, and whether training stopped on a plateau.
    public var steps: Int
    public var stoppedOnPlateau: Bool

    public init(before: HeldOutScore, after: HeldOutScore, verdict: String, summary: String, steps: Int, stoppedOnPlateau: Bool) {
        self.before = before
        self.after = after
        self.verdict = verdict
        self.summary = summary
        self.steps = steps
        self.stoppedOnPlateau = stoppedOnPlateau
    }

    enum CodingKeys: String, CodingKey { case before, after, verdict, summary, steps, stoppedOnPlateau = "stopped_on_plateau" }
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
    /// What the job learned (state `done`).
    public var outcome: JobOutcome?
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
        case format, id, strategy, state, progress, error, snapshot, promoted, outcome, attempts, owner
        case taskId = "task_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }
}
