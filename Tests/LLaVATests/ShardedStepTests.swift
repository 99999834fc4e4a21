import Tensor
import XCTest
@testable import LLaVA

final class ShardedStepTests: XCTestCase {
    /// Three examples of unequal answer lengths (so shards hold unequal shares of the answer tokens).
    private func examples(_ plain: [TrainingExample], patchCount: Int) -> [TrainingExample] {
        var third = plain[0]
        third.answerIds = Array(third.answerIds.prefix(1))
        var examples = plain + [third]
        for b in examples.indices {
            examples[b].patchLabels = [(0 ..< patchCount).map { ($0 * 5 + b) % 4 - 1 }, (0 ..< patchCount).map { ($0 + 2 * b) % 3 }]
        }
        // Unequal numbers of supervised heads per example, one example with none.
        examples[0].attentionTargets = [[1, 2, 9], [], [4]]
        examples[1].attentionTargets = [[0]]
        return examples
    }

    private func assertSame(_ reference: Gradients, _ sharded: Gradients, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(reference.parameters.count, sharded.parameters.count)
        for (name, tensor) in reference.parameters {
            let (_, diff, scale) = ModelFixtures.relativeError(sharded.of(tensor)!, reference.of(tensor)!)
            XCTAssertLessThanOrEqual(diff, 1e-5 + 1e-4 * scale, "\(label) \(name): max diff \(diff) on max |grad| \(scale)", file: file, line: line)
        }
    }

    /// Full training with patch and attention supervision: the shards' losses and gradients add up to the whole batch's,
    /// for two and for three shards, and the BLAS thread count is restored.
    func testShardsAddUpToTheWholeBatch() throws {
        let (model, plain, _, _) = try GradientReferenceTests.load("mha_untied_default_m2_f32", "full")
        let vision = model.config.visionConfig
        let batch = examples(plain, patchCount: vision.patchCount)
        var options = LlavaTraining.Options()
        options.patchSupervision = PatchSupervision(classes: [3, 3], features: vision.hiddenSize, lossWeight: 0.5, seed: 3)
        options.attentionSupervision = AttentionSupervision(slots: (0 ..< 3).map { .init(layer: 0, head: $0) }, weight: 0.3)
        func trainable() -> Gradients {
            let gradients = Gradients()
            gradients.register(LlavaTraining.namedWeights(of: model))
            gradients.register(options.patchSupervision!.namedTensors)
            return gradients
        }
        let reference = trainable()
        let whole = LlavaTraining.step(model: model, examples: batch, options: options, gradients: reference)
        let threads = BLAS.threads
        for shards in [2, 3] {
            let gradients = trainable()
            let result = ShardedStep(shards: shards).step(model: model, examples: batch, options: options, gradients: gradients)
            XCTAssertEqual(BLAS.threads, threads, "BLAS threads restored")
            XCTAssertEqual(result.loss, whole.loss, accuracy: 1e-5 * max(1, whole.loss), "\(shards) shards")
            XCTAssertEqual(result.patchLoss ?? -1, whole.patchLoss ?? 0, accuracy: 1e-5 * max(1, whole.patchLoss ?? 0), "\(shards) shards")
            XCTAssertEqual(result.attentionLoss ?? -1, whole.attentionLoss ?? 0, accuracy: 1e-5 * max(1, whole.attentionLoss ?? 0),
                           "\(shards) shards")
            XCTAssertEqual(result.tokens, whole.tokens)
            assertSame(reference, gradients, "\(shards) shards")
        }
    }

    /// BranchLoRA tuning (frozen base, routers read each sequence's first token): two shards give the whole
    /// batch's adapter gradients, also when the same ShardedStep runs again on fresh gradients.
    func testAdapterShardsAddUp() throws {
        let (model, plain, _, _) = try GradientReferenceTests.load("mha_untied_default_m2_f32", "full")
        let batch = examples(plain, patchCount: model.config.visionConfig.patchCount).map { example -> TrainingExample in
            var example = example
            example.patchLabels = nil
            return example
        }
        let settings = AdapterSet.Settings(kind: .branchLora, targets: ["q_proj", "v_proj", "down_proj"], rank: 4, alpha: 8, branches: 4, topK: 2)
        let adapters = AdapterSet(settings: settings, decoder: model.text, seed: 5)
        let task = BranchLoRATraining.addTask(adapters: adapters, seed: 1)
        for (index, (name, tensor)) in adapters.namedTensors().enumerated() where name.contains("_B") {
            tensor.copy(from: Tensor.uniform(tensor.shape, bound: 0.2, seed: UInt64(index)))
        }
        let options = LlavaTraining.Options(adapters: adapters, task: task)
        func trainable() -> Gradients {
            let gradients = Gradients()
            gradients.register(adapters.trainableTensors(task: task))
            return gradients
        }
        let reference = trainable()
        let whole = LlavaTraining.step(model: model, examples: batch, options: options, gradients: reference)
        let sharded = ShardedStep(shards: 2)
        for run in 0 ..< 2 {
            let gradients = trainable()
            let result = sharded.step(model: model, examples: batch, options: options, gradients: gradients)
            XCTAssertEqual(result.loss, whole.loss, accuracy: 1e-5 * max(1, whole.loss), "run \(run)")
            assertSame(reference, gradients, "run \(run)")
        }
    }

    /// The tower-only phase: two shards of images give the whole batch's patch loss and tower gradients.
    func testTowerStepShardsAddUp() throws {
        let (model, plain, _, _) = try GradientReferenceTests.load("mha_untied_default_m2_f32", "full")
        let vision = model.config.visionConfig
        let batch = examples(plain, patchCount: vision.patchCount)
        let pixels = PatchSupervisionTests.pixels(of: batch)
        let labels = batch.map { $0.patchLabels! }
        let supervision = PatchSupervision(classes: [3, 3], features: vision.hiddenSize, lossWeight: 1, seed: 6)
        func trainable() -> Gradients {
            let gradients = Gradients()
            gradients.register(LlavaTraining.namedTowerWeights(of: model))
            gradients.register(supervision.namedTensors)
            return gradients
        }
        let reference = trainable(), gradients = trainable()
        let whole = supervision.towerStep(model: model, pixels: pixels, labels: labels, gradients: reference)
        let sharded = ShardedStep(shards: 2).towerStep(supervision, model: model, pixels: pixels, labels: labels, gradients: gradients)
        XCTAssertEqual(sharded, whole, accuracy: 1e-5 * max(1, whole))
        assertSame(reference, gradients, "tower")
    }
}
