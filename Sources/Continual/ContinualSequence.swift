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

    public struct Settings: Sendable {
        public var adapter: AdapterSet.Settings
        public var epochs: Int
        public var batchSize: Int
        public var learningRate: Float
        public var seed: UInt64

        public init(adapter: AdapterSet.Settings, epochs: Int = 4, batchSize: Int = 16, learningRate: Float = 2e-3, seed: UInt64 = 0) {
            self.adapter = adapter
            self.epochs = epochs
            self.batchSize = batchSize
            self.learningRate = learningRate
            self.seed = seed
        }
    }

    /// What is known after learning one task.
    public struct Step: Codable, Sendable {
        public var task: String
        /// Accuracy on each task learned so far, in order.
        public var accuracy: [Double]
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
        var learned: [ContinualTask] = []
        var steps: [Step] = []
        let pipeline = base.base
        for (index, task) in tasks.enumerated() {
            let examples = try AdapterTuning.prepare(task.train, base: pipeline)
            let training = TrainingSettings.continualTask(examples: examples.count, epochs: settings.epochs, batchSize: settings.batchSize,
                                                          learningRate: settings.learningRate, seed: settings.seed &+ UInt64(index))
            let started = Date()
            let (tuned, _) = try strategy.learn(snapshot: snapshot, task: ContinualTask(name: task.name, examples: examples), earlier: learned,
                                                adapterSettings: settings.adapter, training: training, baseExamples: [],
                                                progress: { progress?(.tuning(task: index, of: tasks.count, $0)) })
            let seconds = Date().timeIntervalSince(started)
            snapshot = tuned
            learned.append(ContinualTask(name: task.name, examples: examples))

            var accuracy: [Double] = []
            var routedRight = 0, routed = 0
            for earlier in tasks.prefix(index + 1) {
                progress?(.evaluating(task: index, of: tasks.count, label: earlier.name))
                let report = try Evaluation.evaluate(snapshot: tuned, items: earlier.heldOut, routing: .automatic(expected: earlier.name))
                accuracy.append(report.accuracy)
                routedRight += report.predictions.filter { $0.routedTask == earlier.name }.count
                routed += report.items
            }
            let hasSelector = (tuned.selector?.taskCount ?? 0) > 1
            steps.append(Step(task: task.name, accuracy: accuracy, selectorAccuracy: hasSelector && routed > 0 ? Double(routedRight) / Double(routed) : nil,
                              tuningSeconds: seconds, trainableParameters: Self.trainableParameters(of: tuned)))
        }
        progress?(.evaluating(task: tasks.count - 1, of: tasks.count, label: "base families"))
        let before = try baseBefore ?? Self.baseAccuracy(of: base, families: baseFamilies)
        let after = try Self.baseEvaluation(of: snapshot, families: baseFamilies)
        let hasSelector = (snapshot.selector?.taskCount ?? 0) > 1
        return Result(strategy: strategy.name, tasks: tasks.map(\.name), steps: steps, baseBefore: before, baseAfter: after.accuracy,
                      baseRouting: hasSelector ? after.routedToBase : nil, metrics: ContinualMetrics(matrix: steps.map(\.accuracy)))
    }

    /// Parameters trained for the newest task: its adapter tensors, or the prompt pool.
    static func trainableParameters(of snapshot: Snapshot) -> Int {
        let task = snapshot.tasks.count - 1
        let adapters = snapshot.adapters?.trainableTensors(task: task).reduce(0) { $0 + $1.1.count } ?? 0
        let prompts = snapshot.promptPool.map { $0.prompts.reduce(0) { $0 + $1.count } } ?? 0
        return adapters + prompts
    }
}

extension TrainingSettings {
    /// The schedule of one continual task (the server's tuner and `mneme bench continual`): `epochs` passes over
    /// the task's examples, at least 10 steps, warm-up a tenth of them up to 20.
    public static func continualTask(examples: Int, epochs: Int, batchSize: Int, learningRate: Float, seed: UInt64) -> TrainingSettings {
        let steps = max(10, epochs * (examples + batchSize - 1) / batchSize)
        return TrainingSettings(steps: steps, batchSize: batchSize, learningRate: learningRate, warmupSteps: min(20, steps / 10), seed: seed)
    }
}

extension AdapterSet.Settings {
    /// The adapters continual tuning uses unless told otherwise (the server's tuner and `mneme bench continual`):
    /// rank 8 on attention queries and values and the whole MLP; BranchLoRA with 8 branches, top 2.
    public static let continualDefault = AdapterSet.Settings(kind: .branchLora, targets: ["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"],
                                                             rank: 8, alpha: 16, branches: 8, topK: 2)
}
