import Foundation
import LLaVA
import Tensor

/// Fwd-Prompt: prompt tuning from a shared pool with gradient projection (docs/STRATEGIES.md).
///
/// The base model never changes. A pool of soft prompts with keys is shared by all tasks; each item selects the
/// `topK` prompts whose keys best match its frozen-model features. While a task trains, every prompt gradient G
/// (length × hidden) is projected twice before the optimiser step:
/// - onto the residual of the earlier tasks' input subspace, G ← G (I − U_old U_oldᵀ), where U_old spans the
///   top right singular vectors (energy `residualEnergy`) of the earlier tasks' input embeddings (token and image
///   rows), so the update avoids the directions earlier tasks' inputs occupy (anti-forgetting);
/// - onto the pre-trained subspace, G ← G U_pre U_preᵀ, where U_pre spans the token-embedding table's top right
///   singular vectors (energy `pretrainedEnergy`), so prompts stay in the space the model was trained on
///   (forward transfer).
/// Selected keys are pulled towards the task's features with the alignment loss Σ (1 − cos(key, e)).
public struct FwdPrompt: ContinualStrategy {
    public var name: String { "fwd-prompt" }
    public var adapterKind: AdapterSet.Kind { .lora }
    public var poolSize = 16
    public var promptLength = 4
    public var topK = 2
    public var residualEnergy: Float = 0.95
    public var pretrainedEnergy: Float = 0.99
    /// Input rows sampled per earlier task for its subspace.
    public var subspaceSamples = 48

    public init() {}

    public func conflict(with snapshot: Snapshot) -> String? {
        snapshot.adapters.map { "the snapshot carries \($0.settings.kind.rawValue) adapters; fwd-prompt continues a prompt pool" }
    }

    /// The prompt pool is shared and orthogonalised against earlier tasks' inputs: a task cannot be reopened.
    public var canRevise: Bool { false }

    public func learn(snapshot: Snapshot, task: ContinualTask, earlier: [ContinualTask], adapterSettings: AdapterSet.Settings,
                      training: TrainingSettings, baseExamples: [PreparedExample], watch: TrainingWatch?,
                      progress: ((TrainingProgress) -> Void)?) throws -> (Snapshot, TrainingReport) {
        guard !task.examples.isEmpty else { throw AdapterTuning.TuningError.emptyTask(task.name) }
        guard !task.revises else { throw AdapterTuning.TuningError.cannotRevise(strategy: name) }
        guard snapshot.taskId(named: task.name) == nil else { throw AdapterTuning.TuningError.duplicateTask(task.name) }
        if snapshot.adapters != nil { throw AdapterTuning.TuningError.kindMismatch(snapshot: snapshot.adapters!.settings.kind, requested: .lora) }
        let base = snapshot.base
        let model = base.model
        let hidden = model.config.textConfig.hiddenSize
        let pool = snapshot.promptPool?.copy()
            ?? PromptPool(size: poolSize, length: promptLength, topK: topK, embeddings: model.text.embedTokens,
                          featureDimension: 2 * hidden, seed: training.seed)
        let selector = snapshot.selector?.copy()
            ?? TaskSelector.startingWithBase(pipeline: base, baseImages: baseExamples.map(\.imageFeature), baseTexts: baseExamples.map(\.textFeature))
        selector.addTask(name: task.name, images: task.examples.map(\.imageFeature), texts: task.examples.map(\.textFeature), prototypes: TaskSelector.prototypesPerTask)

        // Each item's prompt selection is fixed by its features (keys move slowly), as at inference.
        let selections = task.examples.map { pool.select(PromptPool.features(image: $0.imageFeature, text: $0.textFeature)) }
        let examples = zip(task.examples, selections).map { prepared, chosen -> TrainingExample in
            var example = prepared.example
            example.promptIds = pool.insertPlaceholders(into: example.promptIds)
            example.softPrompts = chosen.map { pool.prompts[$0] }
            return example
        }
        let used = Set(selections.flatMap { $0 })
        let gradients = Gradients()
        for index in used.sorted() {
            gradients.register("prompt.\(index)", pool.prompts[index])
            gradients.register("key.\(index)", pool.keys[index])
        }
        let residual = try earlier.isEmpty ? nil : Self.subspace(Self.inputRows(earlier, model: model, samples: subspaceSamples), energy: residualEnergy)
        let pretrained = try Self.subspace(model.text.embedTokens, energy: pretrainedEnergy)
        let trainer = Trainer(model: model, gradients: gradients, settings: training,
                              options: .init(padId: base.tokenizer.padTokenId ?? 0))
        trainer.beforeUpdate = { _ in
            for index in used {
                guard let gradient = gradients.of(pool.prompts[index]) else { continue }
                if let residual { Self.removeProjection(gradient, onto: residual) }
                Self.keepProjection(gradient, onto: pretrained)
            }
        }
        var sampler = BatchSampler(count: examples.count, seed: training.seed)
        let watching = watch.map { watch in
            watch.attach(to: trainer, examples: examples.count) { [tasks = snapshot.tasks] in
                Snapshot(base: base, adapters: nil, selector: selector, tasks: tasks + [task.name], promptPool: pool,
                         mergedWeights: TrainingWatch.probeWeights)
            }
        }
        let report = trainer.run(batch: { _ in
            let indices = sampler.next(training.batchSize)
            return TrainingBatch(examples: indices.map { examples[$0] }) { gradients in
                var loss: Float = 0
                for i in indices {
                    let features = PromptPool.features(image: task.examples[i].imageFeature, text: task.examples[i].textFeature)
                    for index in selections[i] { loss += TaskSelector.pull(pool.keys[index], towards: features, weight: 1 / Float(indices.count), gradients: gradients) }
                }
                return loss
            }
        }, progress: progress)
        if let watch, let watching { try watch.finish(watching) }
        let tuned = Snapshot(base: base, adapters: nil, selector: selector, tasks: snapshot.tasks + [task.name], promptPool: pool)
        return (tuned, report)
    }

    /// Rows of earlier tasks' input embeddings: their prompts' token embeddings and image features.
    static func inputRows(_ tasks: [ContinualTask], model: LlavaModel, samples: Int) throws -> Tensor {
        var rows: [[Float]] = []
        let hidden = model.config.textConfig.hiddenSize
        for task in tasks {
            for prepared in task.examples.prefix(max(1, samples / 8)) {
                let ids = prepared.example.promptIds.filter { $0 >= 0 && $0 != model.config.imageTokenIndex }
                let embedded = try model.embed(ids: ids, imageFeatures: nil)
                for row in 0 ..< embedded.rows { rows.append(Array(UnsafeBufferPointer(start: embedded.data + row * hidden, count: hidden))) }
                if case let .features(features)? = prepared.example.image {
                    for row in stride(from: 0, to: features.rows, by: 4) {
                        rows.append(Array(UnsafeBufferPointer(start: features.data + row * hidden, count: hidden)))
                    }
                }
            }
        }
        return Tensor(shape: [rows.count, hidden], values: rows.flatMap { $0 })
    }

    /// Orthonormal basis (k, hidden) of the rows' leading right singular subspace.
    static func subspace(_ rows: Tensor, energy: Float) throws -> Tensor {
        let svd = try SVD.decompose(rows)
        let k = max(1, SVD.rank(for: svd.values, energy: energy))
        return svd.vt.slice(0 ..< k).copy()
    }

    /// G ← G − (G Uᵀ) U for a basis U (k, hidden) with orthonormal rows.
    static func removeProjection(_ gradient: Tensor, onto basis: Tensor) {
        let coordinates = Tensor(zeros: [gradient.rows, basis.rows])
        BLAS.matmul(gradient, basis, transposeB: true, into: coordinates)
        BLAS.matmul(coordinates, basis, into: gradient, alpha: -1, beta: 1)
    }

    /// G ← (G Uᵀ) U.
    static func keepProjection(_ gradient: Tensor, onto basis: Tensor) {
        let coordinates = Tensor(zeros: [gradient.rows, basis.rows])
        BLAS.matmul(gradient, basis, transposeB: true, into: coordinates)
        BLAS.matmul(coordinates, basis, into: gradient)
    }
}
