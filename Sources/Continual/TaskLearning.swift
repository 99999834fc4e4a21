import Foundation
import LLaVA

/// Learning one task on top of a snapshot, the one way the server's tuner, `mneme tune` and every strategy of
/// `mneme bench continual` do it: measure the parent on the task's held-out items (before), train until the
/// held-out accuracy stops rising (`TrainingWatch`), measure the tuned snapshot on the task and on every earlier
/// task (after), and decide — did it learn, does it keep the earlier tasks — in words a user can read.
public struct TaskLearning {
    public struct Settings: Sendable, Codable, Equatable {
        public var adapter: AdapterSet.Settings
        public var batchSize: Int
        public var learningRate: Float
        /// The budget: at most this many passes over the task's training items (the run usually stops earlier,
        /// on a plateau), so it scales with the task's size.
        public var maxEpochs: Int
        public var watch: TrainingWatch.Settings
        /// A new snapshot is promoted only if no earlier task loses more than this many accuracy points.
        public var regressionGatePoints: Double
        public var seed: UInt64

        public init(adapter: AdapterSet.Settings = .continualDefault, batchSize: Int = 16, learningRate: Float = 5e-4, maxEpochs: Int = 40,
                    watch: TrainingWatch.Settings = .init(), regressionGatePoints: Double = 5, seed: UInt64 = 0) {
            self.adapter = adapter
            self.batchSize = batchSize
            self.learningRate = learningRate
            self.maxEpochs = maxEpochs
            self.watch = watch
            self.regressionGatePoints = regressionGatePoints
            self.seed = seed
        }

        enum CodingKeys: String, CodingKey {
            case adapter, batchSize = "batch_size", learningRate = "learning_rate", maxEpochs = "max_epochs", watch
            case regressionGatePoints = "regression_gate_points", seed
        }

        /// The optimiser settings for a task of `examples` items (the `index`-th learned, for the seed).
        public func training(examples: Int, index: Int) -> TrainingSettings {
            let steps = max(10, maxEpochs * (examples + batchSize - 1) / batchSize)
            let epoch = max(1, (examples + batchSize - 1) / batchSize)
            return TrainingSettings(steps: steps, batchSize: batchSize, learningRate: learningRate, warmupSteps: min(epoch, 50),
                                    seed: seed &+ UInt64(index))
        }
    }

    /// A task to learn: its training items (prepared once), the held-out items before and after are measured
    /// on, and the items training watches for its plateau (the server watches the held-out split itself; the
    /// benchmarks watch items set aside from the training items, so their held-out figures are untouched by
    /// the choice of when to stop).
    public struct Task {
        public var name: String
        public var examples: [PreparedExample]
        public var heldOut: [LabeledItem]
        public var watched: [LabeledItem]
        /// A revision: the parent learned this task already, and this is it as learned (its held-out items and
        /// the parent's accuracy on them). Training continues the task; the gate keeps what it knew.
        public var revising: Earlier?

        public init(name: String, examples: [PreparedExample], heldOut: [LabeledItem], watched: [LabeledItem]? = nil,
                    revising: Earlier? = nil) {
            self.name = name
            self.examples = examples
            self.heldOut = heldOut
            self.watched = watched ?? heldOut
            self.revising = revising
        }
    }

    /// An earlier task of the parent snapshot: its stored examples (for strategies that rehearse) and held-out items.
    public struct Earlier {
        public var task: ContinualTask
        public var heldOut: [LabeledItem]
        /// Its accuracy on the parent snapshot, when known (the gate compares against it).
        public var parentAccuracy: Double?

        public init(task: ContinualTask, heldOut: [LabeledItem], parentAccuracy: Double? = nil) {
            self.task = task
            self.heldOut = heldOut
            self.parentAccuracy = parentAccuracy
        }
    }

    public struct Score: Sendable, Codable, Equatable {
        public var correct: Int
        public var items: Int
        /// Items the selector sent to the task they belong to (automatic routing with a known task).
        public var routedRight: Int?
        public var accuracy: Double { items == 0 ? 0 : Double(correct) / Double(items) }

        public init(correct: Int, items: Int, routedRight: Int? = nil) {
            self.correct = correct
            self.items = items
            self.routedRight = routedRight
        }

        enum CodingKeys: String, CodingKey { case correct, items, routedRight = "routed_right" }

        /// `items` answered by `snapshot`, routed automatically (`expected`: the task they belong to, if it knows it).
        static func measure(_ snapshot: Snapshot, _ items: [LabeledItem], expected: String?, shouldStop: (() -> Bool)? = nil) throws -> Score {
            let report = try Evaluation.evaluate(snapshot: snapshot, items: items, routing: .automatic(expected: expected), shouldStop: shouldStop)
            return Score(correct: report.correct, items: report.items,
                         routedRight: expected.map { name in report.predictions.filter { $0.routedTask == name }.count })
        }
    }

    /// Whether the task was learned, judged on its held-out items.
    public enum Verdict: String, Sendable, Codable {
        /// After is clearly above before.
        case learned
        /// After is not clearly above before: the snapshot is not promoted.
        case notLearned = "not_learned"
        /// Too few held-out items to tell (fewer than `minimumItems`): promoted on the regression gate alone, flagged.
        case unmeasured
    }

    /// Fewer held-out items than this cannot tell a learned task from chance: the result is flagged, not judged.
    public static let minimumItems = 20

    public struct Outcome {
        public var snapshot: Snapshot
        public var report: TrainingReport
        /// Held-out accuracy as training went.
        public var checks: [TrainingWatch.Check]
        public var stoppedOnPlateau: Bool
        public var before: Score
        public var after: Score
        /// Earlier tasks' accuracy on the tuned snapshot, in order.
        public var earlierAfter: [(name: String, score: Score)]
        /// A revision: the tuned snapshot on the items the task was learned with before (`Task.revising`).
        public var revisedAfter: Score?
        /// Earlier tasks that lost more than the gate allows, as "name 80.0 → 60.0".
        public var regressions: [String]
        public var verdict: Verdict
        /// What happened, in words: shown with the job.
        public var summary: String
        public var promote: Bool { verdict != .notLearned && regressions.isEmpty }
    }

    /// Progress: training (with each held-out check as it is made) or evaluating.
    public enum Event {
        case training(TrainingProgress)
        case checked(TrainingWatch.Check)
        case evaluating(String)
    }

    public let settings: Settings

    public init(settings: Settings) { self.settings = settings }

    /// Learns `task` with `strategy` on top of `parent`, `index` being how many tasks came before it (for seeds).
    /// `shouldStop`, asked after every step and between evaluated items, cancels the run (it throws `CancellationError`).
    public func learn(_ strategy: any ContinualStrategy, parent: Snapshot, task: Task, earlier: [Earlier], index: Int,
                      baseExamples: [PreparedExample] = [], shouldStop: (() -> Bool)? = nil,
                      progress: ((Event) -> Void)? = nil) throws -> Outcome {
        progress?(.evaluating("\(task.name) before tuning"))
        // Before: the parent answering as it would have, routed automatically (it does not know the task).
        let before = try Score.measure(parent, task.heldOut, expected: nil, shouldStop: shouldStop)
        let watch = TrainingWatch(task: task.name, items: task.watched, settings: settings.watch)
        watch.onCheck = { progress?(.checked($0)) }
        watch.shouldStop = shouldStop
        let (tuned, report) = try strategy.learn(snapshot: parent,
                                                 task: ContinualTask(name: task.name, examples: task.examples, revises: task.revising != nil),
                                                 earlier: earlier.map(\.task), adapterSettings: settings.adapter,
                                                 training: settings.training(examples: task.examples.count, index: index),
                                                 baseExamples: baseExamples, watch: watch,
                                                 progress: { progress?(.training($0)) })
        progress?(.evaluating(task.name))
        let after = try Score.measure(tuned, task.heldOut, expected: task.name, shouldStop: shouldStop)
        var earlierAfter: [(name: String, score: Score)] = []
        var regressions: [String] = []
        var revisedAfter: Score?
        if let revising = task.revising, !revising.heldOut.isEmpty {
            progress?(.evaluating("\(task.name) as learned before"))
            let score = try Score.measure(tuned, revising.heldOut, expected: task.name, shouldStop: shouldStop)
            revisedAfter = score
            if let was = revising.parentAccuracy, (was - score.accuracy) * 100 > settings.regressionGatePoints {
                regressions.append(String(format: "%@ (the items it was learned with) %.1f → %.1f", task.name, was * 100, score.accuracy * 100))
            }
        }
        for entry in earlier {
            progress?(.evaluating(entry.task.name))
            let score = entry.heldOut.isEmpty ? Score(correct: 0, items: 0) : try Score.measure(tuned, entry.heldOut, expected: entry.task.name, shouldStop: shouldStop)
            earlierAfter.append((entry.task.name, score))
            if let was = entry.parentAccuracy, score.items > 0, (was - score.accuracy) * 100 > settings.regressionGatePoints {
                regressions.append(String(format: "%@ %.1f → %.1f", entry.task.name, was * 100, score.accuracy * 100))
            }
        }
        let verdict = Self.verdict(before: before, after: after)
        return Outcome(snapshot: tuned, report: report, checks: watch.checks, stoppedOnPlateau: watch.stoppedOnPlateau, before: before,
                       after: after, earlierAfter: earlierAfter, revisedAfter: revisedAfter, regressions: regressions, verdict: verdict,
                       summary: Self.summary(task: task.name, before: before, after: after, verdict: verdict, regressions: regressions,
                                             report: report, plateau: watch.stoppedOnPlateau))
    }

    /// Learned when after beats before in a one-sided two-proportion z-test (pooled) at the 1% level — a
    /// strict level, because the server picks the best of several checks on the same held-out items — and by
    /// at least two items; unmeasured below `minimumItems` held-out items.
    public static func verdict(before: Score, after: Score) -> Verdict {
        guard after.items >= minimumItems, before.items >= minimumItems else { return .unmeasured }
        let pooled = Double(before.correct + after.correct) / Double(before.items + after.items)
        let error = (pooled * (1 - pooled) * (1 / Double(before.items) + 1 / Double(after.items))).squareRoot()
        let gain = after.accuracy - before.accuracy
        let clearly = after.correct - before.correct >= 2 && (error == 0 ? gain > 0 : gain / error >= 2.326)
        return clearly ? .learned : .notLearned
    }

    static func summary(task: String, before: Score, after: Score, verdict: Verdict, regressions: [String], report: TrainingReport,
                        plateau: Bool) -> String {
        let change = String(format: "%@: %d/%d → %d/%d held-out items right (%.1f%% → %.1f%%)", task, before.correct, before.items,
                            after.correct, after.items, before.accuracy * 100, after.accuracy * 100)
        let how = "\(report.steps) steps" + (plateau ? ", stopped when held-out accuracy stopped rising" : "")
        var text: String
        switch verdict {
        case .learned: text = "learned — \(change); \(how)"
        case .notLearned: text = "not learned — \(change) is not clearly better; \(how). Not promoted: more or cleaner items may help"
        case .unmeasured:
            text = after.items == 0
                ? "not measured — no held-out items (eval_fraction 0); \(how)"
                : "not measured — \(change), but \(after.items) held-out items are too few to tell (at least \(minimumItems) needed); \(how)"
        }
        if !regressions.isEmpty { text += ". Earlier tasks regress: " + regressions.joined(separator: ", ") + "; not promoted" }
        return text
    }
}
