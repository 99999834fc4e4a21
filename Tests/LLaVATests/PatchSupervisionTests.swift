import Foundation
import Tensor
import XCTest
@testable import LLaVA

final class PatchSupervisionTests: XCTestCase {
    /// The heads' loss: gradients of head weights and of the features against finite differences, and
    /// unlabelled patches (−1) contribute nothing.
    func testGradientsMatchFiniteDifferences() {
        let supervision = PatchSupervision(classes: [5, 3], features: 6, lossWeight: 0.7, seed: 4)
        for (index, (_, tensor)) in supervision.namedTensors.enumerated() {
            tensor.copy(from: Tensor.uniform(tensor.shape, bound: 0.8, seed: UInt64(10 + index)))
        }
        let features = Tensor.uniform([4, 6], bound: 1, seed: 2)
        let labels = [[0, 4, -1, 2], [1, -1, -1, 0]]
        let gradients = Gradients()
        gradients.register(supervision.namedTensors)
        let (loss, dFeatures) = supervision.lossAndGradient(features: features, labels: labels, gradients: gradients)
        XCTAssertGreaterThan(loss, 0)
        func value() -> Double { Double(supervision.lossAndGradient(features: features, labels: labels, gradients: nil).loss) }
        var checked: [(String, Tensor, Tensor)] = gradients.parameters.map { ($0.name, $0.value, gradients.of($0.value)!) }
        checked.append(("features", features, dFeatures))
        for (name, tensor, analytic) in checked {
            assertMatchesFiniteDifferences(name, tensor: tensor, analytic: analytic, indices: 0 ..< tensor.count,
                                           relative: 1e-2, absolute: 1e-4, loss: value)
        }
        // Row 2 has no label in either head: its feature gradient is exactly zero.
        XCTAssertTrue((0 ..< 6).allSatisfy { dFeatures.data[2 * 6 + $0] == 0 })
    }

    /// In a full training step the heads' gradient reaches the tower: its weights' gradients match finite
    /// differences of answer loss + patch loss.
    func testPatchLossTrainsTheTower() throws {
        let (model, plain, _, _) = try GradientReferenceTests.load("mha_untied_default_m2_f32", "full")
        let vision = model.config.visionConfig
        let supervision = PatchSupervision(classes: [4, 3], features: vision.hiddenSize, lossWeight: 0.5, seed: 1)
        var examples = plain
        for b in examples.indices {
            let identity: [Int] = (0 ..< vision.patchCount).map { ($0 * 7 + b) % 5 - 1 }
            let colour: [Int] = (0 ..< vision.patchCount).map { ($0 + b) % 3 }
            examples[b].patchLabels = [identity, colour]
        }
        var options = LlavaTraining.Options()
        options.patchSupervision = supervision
        let gradients = Gradients()
        gradients.register(LlavaTraining.namedWeights(of: model))
        gradients.register(supervision.namedTensors)
        let result = LlavaTraining.step(model: model, examples: examples, options: options, gradients: gradients)
        XCTAssertNotNil(result.patchLoss)
        let pixels = Self.pixels(of: examples)
        let labels: [[Int]] = supervision.heads.indices.map { h in examples.flatMap { $0.patchLabels![h] } }
        func value() -> Double {
            let answer = LlavaTraining.step(model: model, examples: examples, options: options, gradients: nil).loss
            let selected = CLIPTraining.forward(model: model, pixels: pixels).selected!
            return Double(answer) + Double(supervision.lossAndGradient(features: selected, labels: labels, gradients: nil).loss)
        }
        let probes: [Tensor] = [model.vision.patchEmbedding, model.vision.layers[0].fc1.weight, supervision.heads[0].weight]
        for tensor in probes {
            assertMatchesFiniteDifferences("\(tensor.shape)", tensor: tensor, analytic: gradients.of(tensor)!,
                                           indices: sampledIndices(of: tensor, count: 5),
                                           relative: 3e-2, absolute: 2e-4, loss: value)
        }
    }

    /// The tower phase: gradient steps on the patch losses alone lower them, and move only the tower and heads
    /// (the projector gets exactly zero gradient).
    func testTowerStepsLowerThePatchLoss() throws {
        let (model, examples, _, _) = try GradientReferenceTests.load("mha_untied_default_m2_f32", "full")
        let vision = model.config.visionConfig
        let supervision = PatchSupervision(classes: [3], features: vision.hiddenSize, lossWeight: 1, seed: 2)
        let pixels = Self.pixels(of: examples)
        let labels: [[[Int]]] = pixels.indices.map { b in [(0 ..< vision.patchCount).map { ($0 + b) % 3 }] }
        let gradients = Gradients()
        gradients.register(LlavaTraining.namedTowerWeights(of: model))
        gradients.register(supervision.namedTensors)
        gradients.register("projector", model.projector.linear1.weight)
        var losses: [Float] = []
        for _ in 0 ..< 15 {
            gradients.zero()
            losses.append(supervision.towerStep(model: model, pixels: pixels, labels: labels, gradients: gradients))
            XCTAssertEqual(gradients.of(model.projector.linear1.weight)!.toArray().map(abs).max(), 0)
            XCTAssertGreaterThan(gradients.of(model.vision.patchEmbedding)!.toArray().map(abs).max()!, 0, "the loss reaches the tower's first layer")
            for (_, tensor) in gradients.parameters {
                let g = gradients.of(tensor)!
                for i in 0 ..< tensor.count { tensor.data[i] -= 0.05 * g.data[i] }
            }
        }
        XCTAssertLessThan(losses.last!, 0.8 * losses.first!, "patch loss \(losses)")
    }

    /// Predictions come per head, per image, per patch: a head whose bias alone decides says its class
    /// everywhere, and a head that reads the sign of feature 0 follows each patch's own feature.
    func testPredictionsFollowEachPatchsFeatures() throws {
        let (model, examples, _, _) = try GradientReferenceTests.load("mha_untied_default_m2_f32", "full")
        let vision = model.config.visionConfig
        let supervision = PatchSupervision(classes: [4, 2], features: vision.hiddenSize, lossWeight: 1, seed: 2)
        supervision.heads[0].weight.fill(0)
        supervision.heads[0].bias!.fill(0)
        supervision.heads[0].bias!.data[2] = 5
        supervision.heads[1].weight.fill(0)
        supervision.heads[1].bias!.fill(0)
        supervision.heads[1].weight.data[0] = 1  // class 0 scores +feature 0
        supervision.heads[1].weight.data[vision.hiddenSize] = -1  // class 1 scores −feature 0
        let pixels = Self.pixels(of: examples)
        let predicted = supervision.predictions(model: model, pixels: pixels)
        let selected = CLIPTraining.forward(model: model, pixels: pixels).selected!
        XCTAssertEqual(predicted.count, 2)
        XCTAssertEqual(predicted[0], [[Int]](repeating: [Int](repeating: 2, count: vision.patchCount), count: pixels.count))
        let signs = (0 ..< selected.rows).map { selected.data[$0 * selected.columns] > 0 ? 0 : 1 }
        XCTAssertEqual(predicted[1].flatMap { $0 }, signs)
        XCTAssertEqual(Set(signs).count, 2, "the features differ in sign across patches, so the check can fail")
    }

    static func pixels(of examples: [TrainingExample]) -> [Tensor] {
        examples.map { example in
            guard case let .pixels(p) = example.image else { fatalError("pixel examples expected") }
            return p
        }
    }

    /// Saved heads come back exactly; heads of another shape are refused with the tensor's name.
    func testSavedHeadsRestore() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("heads-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        let saved = PatchSupervision(classes: [5, 3], features: 6, lossWeight: 1, seed: 4)
        try saved.save(to: url)
        let restored = PatchSupervision(classes: [5, 3], features: 6, lossWeight: 1, seed: 9)
        XCTAssertNotEqual(restored.heads[0].weight.toArray(), saved.heads[0].weight.toArray())
        try restored.restore(from: url)
        for ((_, a), (_, b)) in zip(saved.namedTensors, restored.namedTensors) { XCTAssertEqual(a.toArray(), b.toArray()) }
        let wider = PatchSupervision(classes: [5, 3], features: 7, lossWeight: 1, seed: 4)
        XCTAssertThrowsError(try wider.restore(from: url)) { error in
            XCTAssertTrue("\(error)".contains("patch_head.0.weight"), "\(error)")
        }
    }
}
