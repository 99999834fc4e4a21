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

        public var description: String {
            switch self {
            case let .emptyTask(name): return "task \(name) has no training items"
            case let .duplicateTask(name): return "the snapshot already has a task named \(name)"
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
    /// first time a selector is created.
    public func tune(snapshot: Snapshot, name: String, examples: [PreparedExample], baseExamples: [PreparedExample] = [],
                     progress: ((TrainingProgress) -> Void)? = nil) throws -> (Snapshot, TrainingReport) {
        guard !examples.isEmpty else { throw TuningError.emptyTask(name) }
        guard snapshot.taskId(named: name) == nil else { throw TuningError.duplicateTask(name) }
        let base = snapshot.base
        let adapters: AdapterSet
        if let existing = snapshot.adapters {
            guard existing.settings.kind == adapterSettings.kind else {
                throw TuningError.kindMismatch(snapshot: existing.settings.kind, requested: adapterSettings.kind)
            }
            adapters = existing.copy()
        } else {
            adapters = AdapterSet(settings: adapterSettings, decoder: base.model.text, seed: training.seed)
        }
        let selector = snapshot.selector?.copy() ?? {
            let fresh = TaskSelector(imageDimension: base.model.config.textConfig.hiddenSize,
                                     textDimension: base.model.config.textConfig.hiddenSize)
            fresh.addTask(name: "base", images: baseExamples.map(\.imageFeature), texts: baseExamples.map(\.textFeature))
            return fresh
        }()
        let taskId = snapshot.tasks.count
        if adapters.settings.kind == .branchLora {
            let added = BranchLoRATraining.addTask(adapters: adapters, seed: training.seed &+ UInt64(taskId) &* 1_000_003)
            precondition(added == taskId, "router count \(added) out of step with task id \(taskId)")
        }
        let selectorTask = selector.addTask(name: name, images: examples.map(\.imageFeature), texts: examples.map(\.textFeature))
        precondition(selectorTask == taskId, "selector out of step with the task list")

        let gradients = Gradients()
        gradients.register(adapters.trainableTensors(task: taskId))
        gradients.register(selector.trainableKeys(task: taskId))
        let trainer = Trainer(model: base.model, gradients: gradients, settings: training,
                              options: .init(adapters: adapters, task: taskId, padId: padId(base)))
        var sampler = BatchSampler(count: examples.count, seed: training.seed)
        let weight = alignmentWeight
        let report = trainer.run(batch: { _ in
            let indices = sampler.next(training.batchSize)
            return TrainingBatch(examples: indices.map { examples[$0].example }) { gradients in
                weight * selector.alignmentLoss(task: taskId, images: indices.map { examples[$0].imageFeature },
                                                texts: indices.map { examples[$0].textFeature }, gradients: gradients)
            }
        }, progress: progress)

        if adapters.settings.kind == .branchLora {
            // Record the task's gates from its live routers at the first token, then freeze its top branches.
            let probe = examples[0].example
            let embeddings = Tensor(zeros: [probe.promptIds.count, base.model.config.textConfig.hiddenSize])
            Embedding.forward(out: embeddings, table: base.model.text.embedTokens, ids: probe.promptIds.map { $0 == base.model.config.imageTokenIndex ? 0 : $0 })
            let activations = LlamaTraining.forward(weights: base.model.text, config: base.model.config.textConfig, rope: base.model.rope,
                                                    input: embeddings.slice(0 ..< 1), batch: 1, length: 1, adapters: adapters, task: taskId)
            BranchLoRATraining.finishTask(taskId, adapters: adapters, activations: activations)
        }
        let tuned = Snapshot(base: base, adapters: adapters, selector: selector, tasks: snapshot.tasks + [name])
        return (tuned, report)
    }

    func padId(_ pipeline: LlavaPipeline) -> Int {
        pipeline.tokenizer.padTokenId ?? pipeline.tokenizer.eosTokenId ?? 0
    }
}
