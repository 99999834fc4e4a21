import Foundation
import LLaVA
import Tensor

/// Full training of every weight — vision tower, projector, decoder — from items drawn fresh for every step.
public struct Pretraining {
    public var training: TrainingSettings
    /// Evaluate on the held-out sets every this many steps (0: only at the end).
    public var evaluationInterval: Int
    /// Auxiliary per-patch heads trained with the model (items must carry `patchLabels`); discarded after.
    public var patchSupervision: PatchSupervision?
    /// A first phase that trains the vision tower alone on the patch losses (needs `patchSupervision`):
    /// an order of magnitude cheaper per image than a full step, so the tower sees many more scenes.
    public var towerWarmup: TrainingSettings?
    /// Auxiliary loss on the decoder's attention to the objects questions name (items must carry
    /// `attentionTargets`; items without them are left alone).
    public var attentionSupervision: AttentionSupervision?

    public init(training: TrainingSettings, evaluationInterval: Int = 0, patchSupervision: PatchSupervision? = nil,
                towerWarmup: TrainingSettings? = nil, attentionSupervision: AttentionSupervision? = nil) {
        self.training = training
        self.evaluationInterval = evaluationInterval
        self.patchSupervision = patchSupervision
        self.towerWarmup = towerWarmup
        self.attentionSupervision = attentionSupervision
    }

    /// Phase one: the tower and the patch heads on `draw(step, count)`'s images and patch labels.
    public func warmUpTower(pipeline: LlavaPipeline, draw: (Int, Int) -> [LabeledItem],
                            progress: ((TrainingProgress) -> Void)? = nil) -> TrainingReport? {
        guard let settings = towerWarmup, settings.steps > 0, let supervision = patchSupervision else { return nil }
        let model = pipeline.model
        let gradients = Gradients()
        gradients.register(LlavaTraining.namedTowerWeights(of: model))
        gradients.register(supervision.namedTensors)
        let trainer = Trainer(model: model, gradients: gradients, settings: settings, options: .init())
        return trainer.run(batch: { step in
            let items = draw(step, settings.batchSize)
            let pixels = items.map { pipeline.pixels(of: $0.image) }
            let labels = items.map { $0.patchLabels! }
            return TrainingBatch(examples: [], auxiliary: { gradients in
                trainer.sharded.towerStep(supervision, model: model, pixels: pixels, labels: labels, gradients: gradients)
            }, items: items.count)
        }, progress: progress)
    }

    public struct Checkpoint: Sendable {
        public var step: Int
        public var accuracy: [String: Double]
        public var seconds: Double
    }

    /// Trains `pipeline.model` in place. `draw(step, count)` returns that step's items; `heldOut` are
    /// per-family evaluation items. With `watch` (task "base"), training stops on a plateau of the watched
    /// accuracy and the weights end at its best state.
    public func run(pipeline: LlavaPipeline, draw: (Int, Int) -> [LabeledItem], heldOut: [String: [LabeledItem]],
                    watch: TrainingWatch? = nil, progress: ((TrainingProgress) -> Void)? = nil,
                    evaluated: ((Checkpoint) -> Void)? = nil) throws -> (TrainingReport, [Checkpoint]) {
        let model = pipeline.model
        let gradients = Gradients()
        gradients.register(LlavaTraining.namedWeights(of: model))
        var options = LlavaTraining.Options(padId: pipeline.tokenizer.padTokenId ?? 0)
        if let patchSupervision {
            gradients.register(patchSupervision.namedTensors)
            options.patchSupervision = patchSupervision
        }
        options.attentionSupervision = attentionSupervision
        let trainer = Trainer(model: model, gradients: gradients, settings: training, options: options)
        let builder = ExampleBuilder(pipeline: pipeline, vision: .pixels)
        var checkpoints: [Checkpoint] = []
        let clock = ContinuousClock()
        let start = clock.now
        var failure: Error?
        let watching = watch.map { watch in
            // Items are drawn fresh, so there is no epoch: the watch checks every `every` steps it is given.
            watch.attach(to: trainer, examples: training.batchSize) {
                Snapshot(base: pipeline, adapters: nil, selector: nil, tasks: ["base"], mergedWeights: TrainingWatch.probeWeights)
            }
        }
        let report = trainer.run(batch: { step in
            let items = draw(step, training.batchSize)
            do {
                return TrainingBatch(examples: try items.map { try builder.trainingExample($0) })
            } catch {
                failure = failure ?? error
                return TrainingBatch(examples: [])
            }
        }, progress: { state in
            progress?(state)
            if evaluationInterval > 0, state.step % evaluationInterval == 0, state.step < state.total {
                let checkpoint = Checkpoint(step: state.step, accuracy: evaluate(pipeline: pipeline, heldOut: heldOut),
                                            seconds: start.duration(to: clock.now).milliseconds / 1000)
                checkpoints.append(checkpoint)
                evaluated?(checkpoint)
            }
        })
        if let failure { throw failure }
        if let watch, let watching { try watch.finish(watching) }
        let final = Checkpoint(step: report.steps, accuracy: evaluate(pipeline: pipeline, heldOut: heldOut),
                               seconds: start.duration(to: clock.now).milliseconds / 1000)
        checkpoints.append(final)
        evaluated?(final)
        return (report, checkpoints)
    }

    /// Exact-match accuracy per family of the plain model.
    public func evaluate(pipeline: LlavaPipeline, heldOut: [String: [LabeledItem]]) -> [String: Double] {
        let snapshot = Snapshot(base: pipeline, adapters: nil, selector: nil, tasks: ["base"])
        var accuracy: [String: Double] = [:]
        for (family, items) in heldOut {
            accuracy[family] = (try? Evaluation.evaluate(snapshot: snapshot, items: items, routing: .task("base")).accuracy) ?? 0
        }
        return accuracy
    }
}
