import Foundation
import LLaVA
import Tensor

/// Tunes one new task onto a snapshot with adapters, returning a new in-memory snapshot (the input is untouched).
public struct AdapterTuning {
    public var adapterSettings: AdapterSet.Settings
    public var training: TrainingSettings
    /// Weight λ of the selector's alignment loss.
    public var alignmentWeight: Float = 1

    public init(adapterSettings: AdapterSet.Settings, training: TrainingSettings) {
        self.adapterSettings = adapterSettings
        self.training = training
    }

    public enum TuningError: Error, CustomStringConvertible {
        case emptyTask(String)
        case duplicateTask(String)
        case kindMismatch(snapshot: AdapterSet.Kind, requested: AdapterSet.Kind)
        case invalidSettings(String)
        case unknownTask(String)
        case cannotRevise(strategy: String)

        public var description: String {
            switch self {
            case let .unknownTask(name): return "the snapshot has no task named \(name) to continue"
            case let .cannotRevise(strategy): return "\(strategy) cannot continue a task it learned already"
            case let .emptyTask(name): return "task \(name) has no training items"
            case let .duplicateTask(name): return "the snapshot already has a task named \(name)"
            case let .invalidSettings(problem): return "adapter settings: \(problem)"
            case let .kindMismatch(snapshot, requested):
                return "the snapshot's adapters are \(snapshot.rawValue); cannot continue them as \(requested.rawValue)"
            }
        }
    }

    /// Prepares the task's examples (cached image features: the vision path stays frozen).
    public static func prepare(_ items: [LabeledItem], base: LlavaPipeline,
                               progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> [PreparedExample] {
        try ExampleBuilder(pipeline: base, vision: .cachedFeatures).prepare(items, progress: progress)
    }

    /// Learns `name` from `examples`; `baseExamples` (optional) give the base model's own selector keys the
    /// first time a selector is created; `plan` is how a strategy changes the run.
    /// With `watch`, the run is checked on held-out items as it trains, stops on a plateau and ends at its best state.
    /// `plan` nil: what the adapter kind alone needs (`TuningPlan(for:)`). With `revise`, `name` is a task the
    /// snapshot has learned and training continues it (same task id and selector keys; `TuningPlan.reopenTask`)
    /// instead of adding a new one.
    public func tune(snapshot: Snapshot, name: String, examples: [PreparedExample], baseExamples: [PreparedExample] = [],
                     plan: TuningPlan? = nil, revise: Bool = false, watch: TrainingWatch? = nil,
                     progress: ((TrainingProgress) -> Void)? = nil) throws -> (Snapshot, TrainingReport) {
        let plan = plan ?? TuningPlan(for: adapterSettings.kind)
        guard !examples.isEmpty else { throw TuningError.emptyTask(name) }
        if let problem = adapterSettings.problem { throw TuningError.invalidSettings(problem) }
        let existing = snapshot.taskId(named: name)
        if revise {
            // Only adapter snapshots with a selector key per task can continue one (prompt pools cannot).
            guard (existing ?? 0) > 0, snapshot.adapters != nil, snapshot.selector?.taskCount == snapshot.tasks.count else {
                throw TuningError.unknownTask(name)
            }
        } else if existing != nil {
            throw TuningError.duplicateTask(name)
        }
        let base = snapshot.base
        let adapters = try startingAdapters(snapshot: snapshot, plan: plan)
        let selector = snapshot.selector?.copy()
            ?? TaskSelector.startingWithBase(pipeline: base, baseImages: baseExamples.map(\.imageFeature), baseTexts: baseExamples.map(\.textFeature))
        let taskId: Int
        let tasks: [String]
        if revise, let existing {
            taskId = existing
            tasks = snapshot.tasks
            plan.reopenTask?(adapters, taskId)
        } else {
            taskId = snapshot.tasks.count
            tasks = snapshot.tasks + [name]
            plan.addTask?(adapters, taskId, training.seed)
            let selectorTask = selector.addTask(name: name, images: examples.map(\.imageFeature), texts: examples.map(\.textFeature), prototypes: TaskSelector.prototypesPerTask)
            precondition(selectorTask == taskId, "selector out of step with the task list")
        }

        let gradients = Gradients()
        gradients.register(adapters.trainableTensors(task: taskId))
        gradients.register(selector.trainableKeys(task: taskId))
        let trainer = Trainer(model: plan.trainingModel ?? base.model, gradients: gradients, settings: training,
                              options: .init(adapters: adapters, task: taskId, padId: padId(base)))
        if let weight = plan.softTargetWeight {
            // The teacher is the model as it was before this task: a frozen copy of the adapters.
            trainer.options.softTargets = (adapters.copy(), weight)
        }
        let run = TuningRun(adapters: adapters, gradients: gradients, task: taskId, base: base, model: plan.trainingModel ?? base.model,
                            padId: padId(base))
        trainer.beforeUpdate = plan.beforeUpdate.map { hook in { step in hook(run, step) } }
        trainer.afterStep = plan.afterStep.map { hook in { step in hook(run, step) } }
        let weight = alignmentWeight
        var probeBase = base
        probeBase.model = plan.trainingModel ?? base.model
        let firstToken = examples[0].example.promptIds[0]
        let watching = watch.map { watch in
            watch.attach(to: trainer, examples: examples.count) {
                let probed = plan.servedNow?(adapters, taskId, base, firstToken) ?? adapters
                return Snapshot(base: probeBase, adapters: probed, selector: selector, tasks: tasks, mergedWeights: TrainingWatch.probeWeights)
            }
        }
        var batches = batchSource(examples: examples, plan: plan)
        let report = trainer.run(batch: { step in
            let (batch, own) = batches.next()
            return TrainingBatch(examples: batch) { gradients in
                // Keys align only with the new task's own items (joint pools hold earlier tasks too).
                var loss = weight * selector.alignmentLoss(task: taskId, images: own.map { examples[$0].imageFeature },
                                                           texts: own.map { examples[$0].textFeature }, gradients: gradients)
                if let auxiliary = plan.auxiliaryLoss { loss += auxiliary(run, step, gradients) }
                return loss
            }
        }, progress: progress)
        if let watch, let watching { try watch.finish(watching) }
        plan.finish?(run)
        plan.settle?(adapters, taskId, base, firstToken)
        let served = plan.consolidate?(run) ?? adapters
        let tuned = Snapshot(base: base, adapters: served, selector: selector, tasks: tasks)
        return (tuned, report)
    }

    /// The adapters the run trains: the snapshot's, copied, or fresh ones when the plan says so or it has none.
    private func startingAdapters(snapshot: Snapshot, plan: TuningPlan) throws -> AdapterSet {
        guard let existing = snapshot.adapters, !plan.freshAdapters else {
            return AdapterSet(settings: adapterSettings, decoder: snapshot.base.model.text, seed: training.seed)
        }
        guard existing.settings.kind == adapterSettings.kind else {
            throw TuningError.kindMismatch(snapshot: existing.settings.kind, requested: adapterSettings.kind)
        }
        return try snapshot.trainableAdapters() ?? existing.copy()
    }

    /// Batches of the task's items (and a joint pool's), with the plan's rehearsal mixed in; each batch comes with
    /// the indices of the task's own items in it.
    private struct BatchSource {
        let pool: [PreparedExample]
        let rehearsal: [PreparedExample]
        let rehearsalCount: Int
        let batchSize: Int
        let ownCount: Int
        var sampler: BatchSampler
        var rehearsalSampler: BatchSampler

        mutating func next() -> (batch: [TrainingExample], own: [Int]) {
            let indices = sampler.next(batchSize - rehearsalCount)
            var batch = indices.map { pool[$0].example }
            if rehearsalCount > 0 { batch += rehearsalSampler.next(rehearsalCount).map { rehearsal[$0].example } }
            return (batch, indices.filter { $0 < ownCount })
        }
    }

    private func batchSource(examples: [PreparedExample], plan: TuningPlan) -> BatchSource {
        let pool = examples + plan.jointPool
        let rehearsal = plan.rehearsal?.examples ?? []
        let rehearsalCount = plan.rehearsal.map { r in r.examples.isEmpty ? 0 : Int((Double(training.batchSize) * r.fraction).rounded()) } ?? 0
        return BatchSource(pool: pool, rehearsal: rehearsal, rehearsalCount: rehearsalCount, batchSize: training.batchSize,
                           ownCount: examples.count, sampler: BatchSampler(count: pool.count, seed: training.seed),
                           rehearsalSampler: BatchSampler(count: rehearsal.count, seed: training.seed &+ 1))
    }

    /// Records a BranchLoRA task's gates from its live routers at the first token, and freezes its top branches.
    static func recordGates(task: Int, adapters: AdapterSet, base: LlavaPipeline, firstToken: Int) {
        let embedding = Tensor(zeros: [1, base.model.config.textConfig.hiddenSize])
        Embedding.forward(out: embedding, table: base.model.text.embedTokens, ids: [firstToken])
        let activations = LlamaTraining.forward(weights: base.model.text, config: base.model.config.textConfig, rope: base.model.rope,
                                                input: embedding, batch: 1, length: 1, adapters: adapters, task: task)
        BranchLoRATraining.finishTask(task, adapters: adapters, activations: activations)
    }

    func padId(_ pipeline: LlavaPipeline) -> Int {
        pipeline.tokenizer.padTokenId ?? pipeline.tokenizer.eosTokenId ?? 0
    }
}

/// What a strategy changes in an adapter-tuning run.
public struct TuningPlan {
    /// Start from fresh adapters instead of continuing the snapshot's (multitask training from scratch).
    public var freshAdapters = false
    /// Examples trained as one pool with the new task's (joint training).
    public var jointPool: [PreparedExample] = []
    /// Stored examples of earlier tasks mixed into every batch at this fraction (rehearsal).
    public var rehearsal: (examples: [PreparedExample], fraction: Double)?
    /// After clipping, before the optimiser step (gradient projection).
    public var beforeUpdate: ((TuningRun, Int) -> Void)?
    /// After every optimiser step (weight averaging).
    public var afterStep: ((TuningRun, Int) -> Void)?
    /// An extra loss on each batch that adds its own gradients (regularisers).
    public var auxiliaryLoss: ((TuningRun, Int, Gradients) -> Float)?
    /// After the last step, before the snapshot is assembled.
    public var finish: ((TuningRun) -> Void)?
    /// Soft targets: answer targets mix in this share of the pre-task model's own distribution.
    public var softTargetWeight: Float?
    /// Train on this model instead of the base (e.g. the base with earlier updates merged in).
    public var trainingModel: LlavaModel?
    /// The adapters the new snapshot serves, made from the run's (e.g. consolidated with earlier updates).
    public var consolidate: ((TuningRun) -> AdapterSet)?

    // What an adapter kind needs around the run (`init(for:)`): BranchLoRA's per-task router and gates.
    /// Before training, the adapters get what the new task `task` needs; `seed` is the run's.
    public var addTask: ((AdapterSet, _ task: Int, _ seed: UInt64) -> Void)?
    /// Before training a task the adapters learned already further (a revision), what makes it trainable again
    /// without changing any task's function.
    public var reopenTask: ((AdapterSet, _ task: Int) -> Void)?
    /// The adapters as they would be served if training stopped now, without changing the trained ones (what
    /// the training watch answers with); nil: the trained adapters themselves.
    public var servedNow: ((AdapterSet, _ task: Int, LlavaPipeline, _ firstToken: Int) -> AdapterSet)?
    /// After training, the adapters settle into what is served.
    public var settle: ((AdapterSet, _ task: Int, LlavaPipeline, _ firstToken: Int) -> Void)?

    public init() {}

    /// The plan an adapter kind needs before any strategy changes it: nothing for LoRA and MoE-LoRA; for
    /// BranchLoRA a router per task (added before training), and its gates recorded from the live router at the
    /// first token and its top branches frozen (after training, and on a copy for the watch's probes).
    public init(for kind: AdapterSet.Kind) {
        guard kind == .branchLora else { return }
        addTask = { adapters, task, seed in
            let added = BranchLoRATraining.addTask(adapters: adapters, seed: seed &+ UInt64(task) &* 1_000_003)
            precondition(added == task, "router count \(added) out of step with task id \(task)")
        }
        reopenTask = { adapters, task in BranchLoRATraining.reopenTask(task, adapters: adapters) }
        // The live router would gate every decoded token by that token itself: the served snapshot's gates are
        // recorded from the first token.
        servedNow = { adapters, task, base, firstToken in
            let copy = adapters.copy()
            AdapterTuning.recordGates(task: task, adapters: copy, base: base, firstToken: firstToken)
            return copy
        }
        settle = { adapters, task, base, firstToken in
            AdapterTuning.recordGates(task: task, adapters: adapters, base: base, firstToken: firstToken)
        }
    }
}

/// The state of a run that strategy hooks may read and change.
public struct TuningRun {
    public let adapters: AdapterSet
    public let gradients: Gradients
    public let task: Int
    public let base: LlavaPipeline
    /// The model being trained under the adapters.
    public let model: LlavaModel
    public let padId: Int
}
