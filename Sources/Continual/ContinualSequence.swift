import Tensor
import Foundation
import LLaVA

/// One strategy taken through a sequence of tasks from a base snapshot: after each task, every task so far is
/// evaluated with automatic routing (no task id, as the server answers), and the base families at the end.
public struct ContinualSequence {
    public struct Task: Sendable {
        public var name: String
        public var train: [LabeledItem]
        public var heldOut: [LabeledItem]

        public init(name: String, train: [LabeledItem], heldOut: [LabeledItem]) {
            self.name = name
            self.train = train
            self.heldOut = heldOut
        }
    }

    /// How each task is learned (`TaskLearning`), and the share of a task's training items set aside for
    /// training to watch (its plateau), so the held-out figures stay untouched by when training stopped.
    public struct Settings: Sendable {
        public var learning: TaskLearning.Settings
        public var watchFraction: Double

        public init(learning: TaskLearning.Settings = .init(), watchFraction: Double = 0.1) {
            self.learning = learning
            self.watchFraction = watchFraction
        }
    }

    /// What is known after learning one task.
    public struct Step: Codable, Sendable {
        public var task: String
        /// Accuracy on each task learned so far, in order.
        public var accuracy: [Double]
        /// The task's held-out items on the snapshot before it (routed automatically) and right after it.
        public var before: TaskLearning.Score?
        public var after: TaskLearning.Score?
        /// Optimiser steps run, and whether training stopped on a plateau of the watched accuracy.
        public var steps: Int?
        public var stoppedOnPlateau: Bool?
        /// The watched accuracy as training went.
        public var checks: [TrainingWatch.Check]?
        public var verdict: TaskLearning.Verdict?
        /// Fraction of held-out items routed to their own task, over every task so far; nil without a selector.
        public var selectorAccuracy: Double?
        public var tuningSeconds: Double
        public var trainableParameters: Int
    }

    public struct Result: Codable, Sendable {
        public var strategy: String
        public var tasks: [String]
        public var steps: [Step]
        /// The base families' accuracy before the first task and after the last (automatic routing).
        public var baseBefore: [String: Double]
        public var baseAfter: [String: Double]
        /// Fraction of the base families' items the selector sent to the base model after the sequence (nil
        /// without a selector): with BranchLoRA every base item it misroutes is a base answer lost.
        public var baseRouting: Double?
        public var metrics: ContinualMetrics

        public var matrix: [[Double]] { steps.map(\.accuracy) }
        /// Mean base-family accuracy after the sequence as a fraction of before.
        public var baseRetention: Double {
            let before = baseBefore.values.reduce(0, +), after = baseAfter.values.reduce(0, +)
            return before > 0 ? after / before : 0
        }
        public var finalSelectorAccuracy: Double? { steps.last?.selectorAccuracy }
        public var meanTuningSeconds: Double { steps.map(\.tuningSeconds).reduce(0, +) / Double(max(steps.count, 1)) }
    }

    /// Progress of a run: the task being tuned (with its training progress) or evaluated.
    public enum Event {
        case tuning(task: Int, of: Int, TrainingProgress)
        case checked(task: Int, of: Int, TrainingWatch.Check)
        case evaluating(task: Int, of: Int, label: String)
    }

    public let settings: Settings

    public init(settings: Settings) { self.settings = settings }

    /// The base families' accuracy on a snapshot, routed automatically and expected to go to the base model.
    public static func baseAccuracy(of snapshot: Snapshot, families: [(name: String, items: [LabeledItem])]) throws -> [String: Double] {
        try baseEvaluation(of: snapshot, families: families).accuracy
    }

    /// Per-family accuracy, and the fraction of items routed to the base model (task 0).
    public static func baseEvaluation(of snapshot: Snapshot, families: [(name: String, items: [LabeledItem])]) throws
        -> (accuracy: [String: Double], routedToBase: Double) {
        var accuracy: [String: Double] = [:]
        var toBase = 0, total = 0
        for (name, items) in families {
            let report = try Evaluation.evaluate(snapshot: snapshot, items: items, routing: .automatic(expected: nil))
            accuracy[name] = report.accuracy
            toBase += report.predictions.filter { $0.routedTask == snapshot.tasks.first }.count
            total += report.items
        }
        return (accuracy, total > 0 ? Double(toBase) / Double(total) : 0)
    }

    public func run(_ strategy: any ContinualStrategy, base: Snapshot, tasks: [Task], baseFamilies: [(name: String, items: [LabeledItem])],
                    baseBefore: [String: Double]? = nil, progress: ((Event) -> Void)? = nil) throws -> Result {
        var snapshot = base
        var learned: [TaskLearning.Earlier] = []
        var steps: [Step] = []
        let pipeline = base.base
        let learning = TaskLearning(settings: settings.learning)
        for (index, task) in tasks.enumerated() {
            let (train, watched) = Self.setAside(task.train, fraction: settings.watchFraction, seed: settings.learning.seed &+ UInt64(index))
            let examples = try AdapterTuning.prepare(train, base: pipeline)
            let started = Date()
            let outcome = try learning.learn(strategy, parent: snapshot, task: TaskLearning.Task(name: task.name, examples: examples, heldOut: task.heldOut,
                                                                                                 watched: watched),
                                             earlier: learned, index: index, progress: { event in
                switch event {
                case let .training(training): progress?(.tuning(task: index, of: tasks.count, training))
                case let .checked(check): progress?(.checked(task: index, of: tasks.count, check))
                case let .evaluating(label): progress?(.evaluating(task: index, of: tasks.count, label: label))
                }
            })
            let seconds = Date().timeIntervalSince(started)
            snapshot = outcome.snapshot
            let scores = outcome.earlierAfter.map(\.score) + [outcome.after]
            learned.append(TaskLearning.Earlier(task: ContinualTask(name: task.name, examples: examples), heldOut: task.heldOut,
                                                parentAccuracy: outcome.after.accuracy))
            let hasSelector = (snapshot.selector?.taskCount ?? 0) > 1
            let routed = scores.reduce(0) { $0 + $1.items }, routedRight = scores.reduce(0) { $0 + ($1.routedRight ?? 0) }
            steps.append(Step(task: task.name, accuracy: scores.map(\.accuracy), before: outcome.before, after: outcome.after,
                              steps: outcome.report.steps, stoppedOnPlateau: outcome.stoppedOnPlateau, checks: outcome.checks,
                              verdict: outcome.verdict,
                              selectorAccuracy: hasSelector && routed > 0 ? Double(routedRight) / Double(routed) : nil,
                              tuningSeconds: seconds, trainableParameters: Self.trainableParameters(of: snapshot)))
        }
        progress?(.evaluating(task: tasks.count - 1, of: tasks.count, label: "base families"))
        let before = try baseBefore ?? Self.baseAccuracy(of: base, families: baseFamilies)
        let after = try Self.baseEvaluation(of: snapshot, families: baseFamilies)
        let hasSelector = (snapshot.selector?.taskCount ?? 0) > 1
        return Result(strategy: strategy.name, tasks: tasks.map(\.name), steps: steps, baseBefore: before, baseAfter: after.accuracy,
                      baseRouting: hasSelector ? after.routedToBase : nil, metrics: ContinualMetrics(matrix: steps.map(\.accuracy)))
    }

    /// A seeded share of `items` set aside (at least one item when there are two or more), and the rest.
    public static func setAside(_ items: [LabeledItem], fraction: Double, seed: UInt64) -> (rest: [LabeledItem], aside: [LabeledItem]) {
        let count = items.count >= 2 ? max(1, Int((Double(items.count) * fraction).rounded())) : 0
        guard count > 0 else { return (items, []) }
        var generator = SplitMix64(seed: seed ^ 0x5A5A_5A5A)
        let order = Array(items.indices).shuffled(using: &generator)
        let aside = Set(order.prefix(count))
        return (items.indices.filter { !aside.contains($0) }.map { items[$0] }, order.prefix(count).sorted().map { items[$0] })
    }

    /// Parameters trained for the newest task: its adapter tensors, or the prompt pool.
    static func trainableParameters(of snapshot: Snapshot) -> Int {
        let task = snapshot.tasks.count - 1
        let adapters = snapshot.adapters?.trainableTensors(task: task).reduce(0) { $0 + $1.1.count } ?? 0
        let prompts = snapshot.promptPool.map { $0.prompts.reduce(0) { $0 + $1.count } } ?? 0
        return adapters + prompts
    }
}

extension AdapterSet.Settings {
    /// The adapters continual tuning uses unless told otherwise (the server's tuner and `mneme bench continual`):
    /// rank 32 on every projection of attention and MLP; BranchLoRA with 8 branches, top 2, and a rank-32 pair
    /// each task owns beside the shared trunk. Chosen on the whole continual sequence (docs/RESULTS.md): against
    /// rank 8 on queries, values and the MLP, rank 32 everywhere took the final average from 65.3% to 70.2%;
    /// the own pair then took it from 76.7–77.8% to 77.3–83.4% over three seeds and every task to ≥ 0.9× full
    /// fine-tuning on the same items (`glyph-by-colour` had stayed at 0.84–0.88× on the first task's frozen trunk).
    public static let continualDefault = AdapterSet.Settings(kind: .branchLora,
                                                             targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                                                             rank: 32, alpha: 64, branches: 8, topK: 2, ownRank: 32)
}
