import Tensor
import Foundation
import LLaVA

/// A task's prepared training examples.
public struct ContinualTask: Sendable {
    public var name: String
    public var examples: [PreparedExample]
    /// The snapshot learned this task already: continue it (a revision, e.g. with users' corrections) instead of
    /// adding a new one.
    public var revises: Bool

    public init(name: String, examples: [PreparedExample], revises: Bool = false) {
        self.name = name
        self.examples = examples
        self.revises = revises
    }
}

/// A continual-learning method: how one new task is learned on top of a snapshot (docs/DESIGN.md §4).
public protocol ContinualStrategy: Sendable {
    var name: String { get }
    /// The adapter kind its snapshots carry.
    var adapterKind: AdapterSet.Kind { get }
    /// Why this strategy cannot learn on top of `snapshot` (it carries adapters or prompts of another kind), or nil.
    func conflict(with snapshot: Snapshot) -> String?
    /// Whether it can continue a task it learned already (a revision, `ContinualTask.revises`).
    var canRevise: Bool { get }
    /// How the adapter-tuning run is changed for `task`, given the earlier tasks' stored examples.
    func plan(task: ContinualTask, earlier: [ContinualTask], snapshot: Snapshot) throws -> TuningPlan
    /// Learns `task` on top of `snapshot`. Adapter strategies use the default (adapter tuning with their plan).
    /// With `watch`, training stops on a plateau of held-out accuracy and ends at its best state.
    func learn(snapshot: Snapshot, task: ContinualTask, earlier: [ContinualTask], adapterSettings: AdapterSet.Settings,
               training: TrainingSettings, baseExamples: [PreparedExample], watch: TrainingWatch?,
               progress: ((TrainingProgress) -> Void)?) throws -> (Snapshot, TrainingReport)
}

extension ContinualStrategy {
    public func conflict(with snapshot: Snapshot) -> String? {
        if snapshot.promptPool != nil {
            return "the snapshot carries fwd-prompt's prompt pool; \(name) continues adapters"
        }
        if let existing = snapshot.adapters?.settings.kind, existing != adapterKind, !startsFreshAdapters {
            return "the snapshot carries \(existing.rawValue) adapters; \(name) cannot continue them"
        }
        return nil
    }

    public var canRevise: Bool { true }

    /// Whether each task starts from new adapters (then any adapter snapshot can be built on).
    var startsFreshAdapters: Bool { false }

    public func plan(task: ContinualTask, earlier: [ContinualTask], snapshot: Snapshot) throws -> TuningPlan { TuningPlan(for: adapterKind) }

    public func learn(snapshot: Snapshot, task: ContinualTask, earlier: [ContinualTask], adapterSettings: AdapterSet.Settings,
                      training: TrainingSettings, baseExamples: [PreparedExample], watch: TrainingWatch?,
                      progress: ((TrainingProgress) -> Void)?) throws -> (Snapshot, TrainingReport) {
        var settings = adapterSettings
        settings.kind = adapterKind
        if adapterKind != .branchLora { settings.ownRank = 0 }
        let tuning = AdapterTuning(adapterSettings: settings, training: training)
        return try tuning.tune(snapshot: snapshot, name: task.name, examples: task.examples, baseExamples: baseExamples,
                               plan: try plan(task: task, earlier: earlier, snapshot: snapshot), revise: task.revises, watch: watch,
                               progress: progress)
    }
}

/// Every strategy by its command-line name.
public enum Strategies {
    public static let names = ["seq-lora", "joint", "replay", "moe-lora", "branchlora", "llaca-ema", "llava-c", "fwd-prompt", "msgm-replay"]

    public struct UnknownStrategy: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "unknown strategy \(name); choose one of \(Strategies.names.joined(separator: ", "))" }
    }

    public static func named(_ name: String) throws -> any ContinualStrategy {
        switch name {
        case "seq-lora", "lora": return SequentialLoRA()
        case "joint": return JointTraining()
        case "replay": return Replay()
        case "moe-lora": return MoELoRAStrategy()
        case "branchlora": return BranchLoRAStrategy()
        case "llaca-ema": return LLaCAEMA()
        case "llava-c": return LLaVAC()
        case "fwd-prompt": return FwdPrompt()
        case "msgm-replay": return MSGMReplay()
        default: throw UnknownStrategy(name: name)
        }
    }

    /// Learns `task` with `strategy` on top of `snapshot`.
    public static func learn(_ strategy: any ContinualStrategy, snapshot: Snapshot, task: ContinualTask, earlier: [ContinualTask],
                             adapterSettings: AdapterSet.Settings, training: TrainingSettings, baseExamples: [PreparedExample] = [],
                             watch: TrainingWatch? = nil, progress: ((TrainingProgress) -> Void)? = nil) throws -> (Snapshot, TrainingReport) {
        try strategy.learn(snapshot: snapshot, task: task, earlier: earlier, adapterSettings: adapterSettings, training: training,
                           baseExamples: baseExamples, watch: watch, progress: progress)
    }
}

/// Plain sequential LoRA fine-tuning: one adapter keeps training on each new task (the lower bound).
public struct SequentialLoRA: ContinualStrategy {
    public var name: String { "seq-lora" }
    public var adapterKind: AdapterSet.Kind { .lora }
    public init() {}
}

/// Multitask training on every task so far, from fresh adapters (the upper bound).
public struct JointTraining: ContinualStrategy {
    public var name: String { "joint" }
    public var adapterKind: AdapterSet.Kind { .lora }
    var startsFreshAdapters: Bool { true }
    public init() {}

    public func plan(task: ContinualTask, earlier: [ContinualTask], snapshot: Snapshot) throws -> TuningPlan {
        var plan = TuningPlan(for: adapterKind)
        plan.freshAdapters = true
        plan.jointPool = earlier.flatMap(\.examples)
        return plan
    }
}

/// Rehearsal: a fixed, seeded sample of each earlier task is mixed into every batch.
public struct Replay: ContinualStrategy {
    public var name: String { "replay" }
    public var adapterKind: AdapterSet.Kind { .lora }
    /// Stored items per earlier task.
    public var bufferPerTask: Int
    /// Share of each batch drawn from the buffer.
    public var fraction: Double

    public init(bufferPerTask: Int = 64, fraction: Double = 0.25) {
        self.bufferPerTask = bufferPerTask
        self.fraction = fraction
    }

    public func plan(task: ContinualTask, earlier: [ContinualTask], snapshot: Snapshot) throws -> TuningPlan {
        var plan = TuningPlan(for: adapterKind)
        plan.rehearsal = (Self.buffer(earlier, perTask: bufferPerTask), fraction)
        return plan
    }

    /// The same deterministic sample of each earlier task every time.
    static func buffer(_ earlier: [ContinualTask], perTask: Int) -> [PreparedExample] {
        earlier.enumerated().flatMap { index, task -> [PreparedExample] in
            var generator = SplitMix64(seed: 0x5EED &+ UInt64(index))
            return Array(task.examples.shuffled(using: &generator).prefix(perTask))
        }
    }
}

/// MoELoRA as in CoIN: experts with a per-token router, all continuing to train.
public struct MoELoRAStrategy: ContinualStrategy {
    public var name: String { "moe-lora" }
    public var adapterKind: AdapterSet.Kind { .moeLora }
    public init() {}
}

/// BranchLoRA (docs/DESIGN.md §3): shared trunk, branches, per-task routers, tuning-freezing, task selector.
public struct BranchLoRAStrategy: ContinualStrategy {
    public var name: String { "branchlora" }
    public var adapterKind: AdapterSet.Kind { .branchLora }
    public init() {}
}
