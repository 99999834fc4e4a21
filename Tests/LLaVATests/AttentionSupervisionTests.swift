import Tensor
import XCTest
@testable import LLaVA

final class AttentionSupervisionTests: XCTestCase {
    /// Answer loss + attention loss: gradients of the supervised layer's projections, of a later layer, and of
    /// the image path (projector, tower) against finite differences, with image targets and the first token.
    func testGradientsMatchFiniteDifferences() throws {
        let (model, plain, _, _) = try GradientReferenceTests.load("mha_untied_default_m2_f32", "full")
        var examples = plain
        examples[0].attentionTargets = [[0, 3, 5], [], [7]]
        examples[1].attentionTargets = [[2], [-1]]  // head 1: the first token ("nothing named is there")
        var options = LlavaTraining.Options()
        options.attentionSupervision = AttentionSupervision(slots: (0 ..< 3).map { .init(layer: 0, head: $0) }, weight: 0.5)
        let gradients = Gradients()
        gradients.register(LlavaTraining.namedWeights(of: model))
        let result = LlavaTraining.step(model: model, examples: examples, options: options, gradients: gradients)
        let attention = try XCTUnwrap(result.attentionLoss)
        XCTAssertGreaterThan(attention, 0)
        func value() -> Double {
            let step = LlavaTraining.step(model: model, examples: examples, options: options, gradients: nil)
            return Double(step.loss) + Double(step.attentionLoss!)
        }
        let layer = model.text.layers[0]
        let probes: [Tensor] = [layer.query.weight, layer.key.weight, model.text.layers[1].query.weight,
                                model.projector.linear2.weight, model.vision.patchEmbedding]
        for tensor in probes {
            assertMatchesFiniteDifferences("\(tensor.shape)", tensor: tensor, analytic: gradients.of(tensor)!,
                                           indices: sampledIndices(of: tensor, count: 6),
                                           relative: 3e-2, absolute: 2e-4, loss: value)
        }
    }

    /// The loss is −log of the supervised head's attention mass on its target patches (checked against the
    /// probabilities the forward pass kept), and examples without targets add nothing.
    func testLossIsMinusLogTargetMass() throws {
        let (model, plain, _, _) = try GradientReferenceTests.load("mha_untied_default_m2_f32", "full")
        var examples = plain
        examples[0].attentionTargets = [[], [1, 6]]
        examples[1].attentionTargets = nil
        var options = LlavaTraining.Options()
        let supervision = AttentionSupervision(slots: [.init(layer: 0, head: 3), .init(layer: 0, head: 1)], weight: 2)
        options.attentionSupervision = supervision
        let loss = try XCTUnwrap(LlavaTraining.step(model: model, examples: examples, options: options, gradients: nil).attentionLoss)

        // The same layer's probabilities from a plain forward pass.
        let imageId = model.config.imageTokenIndex
        let example = examples[0]
        let positions = example.promptIds.indices.filter { example.promptIds[$0] == imageId }
        guard case let .pixels(pixels) = example.image else { return XCTFail("pixel examples expected") }
        let features = try model.imageFeatures(pixels: pixels)
        let embeddings = try model.embed(ids: example.tokens, imageFeatures: features)
        let activations = LlamaTraining.forward(weights: model.text, config: model.config.textConfig, rope: model.rope,
                                                input: embeddings, batch: 1, length: example.tokens.count, adapters: nil, task: 0)
        let p = activations.probabilities(layer: 0)[0]
        let keys = p.shape[2], query = example.promptIds.count - 1
        let row = p.data + (1 * p.shape[1] + query) * keys
        let mass = row[positions[1]] + row[positions[6]]
        XCTAssertEqual(loss, -2 * log(mass), accuracy: 1e-4, "one supervised slot in the batch (head 1): weight × −log mass")
    }
}
