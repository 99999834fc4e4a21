import Tensor
import XCTest
@testable import LLaVA

final class AttentionSupervisionTests: XCTestCase {
    /// Answer loss + attention loss: gradients of the supervised layer's projections, of a later layer, and of
    /// the image path (projector, tower) against finite differences, with image targets, the first token and a prompt position.
    func testGradientsMatchFiniteDifferences() throws {
        let (model, plain, _, _) = try GradientReferenceTests.load("mha_untied_default_m2_f32", "full")
        var examples = plain
        examples[0].attentionTargets = [[0, 3, 5], [], [7]]
        examples[1].attentionTargets = [[2], [-1], [-5]]  // head 1: the first token ("nothing named is there"); head 2: prompt position 4
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
        let imageId = model.config.imageTokenIndex
        let positions = examples[0].promptIds.indices.filter { examples[0].promptIds[$0] == imageId }
        let word = positions.last! + 2  // a text token after the image
        examples[0].attentionTargets = [[], [1, 6], [-1 - word]]
        examples[1].attentionTargets = nil
        var options = LlavaTraining.Options()
        let supervision = AttentionSupervision(slots: [.init(layer: 0, head: 3), .init(layer: 0, head: 1), .init(layer: 0, head: 0)], weight: 2)
        options.attentionSupervision = supervision
        let loss = try XCTUnwrap(LlavaTraining.step(model: model, examples: examples, options: options, gradients: nil).attentionLoss)

        // The same layers' probabilities from a plain forward pass.
        let example = examples[0]
        guard case let .pixels(pixels) = example.image else { return XCTFail("pixel examples expected") }
        let features = try model.imageFeatures(pixels: pixels)
        let embeddings = try model.embed(ids: example.tokens, imageFeatures: features)
        let activations = LlamaTraining.forward(weights: model.text, config: model.config.textConfig, rope: model.rope,
                                                input: embeddings, batch: 1, length: example.tokens.count, adapters: nil, task: 0)
        let query = example.promptIds.count - 1
        func row(layer: Int, head: Int) -> UnsafeMutablePointer<Float> {
            let p = activations.probabilities(layer: layer)[0]
            return p.data + (head * p.shape[1] + query) * p.shape[2]
        }
        let mass = row(layer: 0, head: 1)[positions[1]] + row(layer: 0, head: 1)[positions[6]]
        let wordMass = row(layer: 0, head: 0)[word]
        XCTAssertEqual(loss, -2 * (log(mass) + log(wordMass)) / 2, accuracy: 1e-4,
                       "two supervised slots in the batch (patches, a prompt position): weight × mean −log mass")
    }

    /// With `everyAnswerToken` the loss also covers the positions that predict the answer's later tokens
    /// (weight × mean −log mass over every supervised slot and position), and its gradients still match
    /// finite differences.
    func testEveryAnswerTokenSupervisesEachAnswerPosition() throws {
        let (model, plain, _, _) = try GradientReferenceTests.load("mha_untied_default_m2_f32", "full")
        var examples = Array(plain.prefix(1))
        examples[0].answerIds = [5, 9, 7, examples[0].answerIds.last!]  // three answer tokens and the end
        let imageId = model.config.imageTokenIndex
        let positions = examples[0].promptIds.indices.filter { examples[0].promptIds[$0] == imageId }
        examples[0].attentionTargets = [[2, 4], [-1]]
        var options = LlavaTraining.Options()
        let supervision = AttentionSupervision(slots: [.init(layer: 0, head: 2), .init(layer: 0, head: 0)], weight: 0.5,
                                               queries: .everyAnswerToken)
        let queries = supervision.queryPositions(of: examples[0])
        XCTAssertEqual(queries, examples[0].promptIds.count - 1 ..< examples[0].promptIds.count + 2)
        XCTAssertEqual(supervision.supervisedSlots(in: examples), 6)
        options.attentionSupervision = supervision
        let loss = try XCTUnwrap(LlavaTraining.step(model: model, examples: examples, options: options, gradients: nil).attentionLoss)

        let example = examples[0]
        guard case let .pixels(pixels) = example.image else { return XCTFail("pixel examples expected") }
        let embeddings = try model.embed(ids: example.tokens, imageFeatures: try model.imageFeatures(pixels: pixels))
        let activations = LlamaTraining.forward(weights: model.text, config: model.config.textConfig, rope: model.rope,
                                                input: embeddings, batch: 1, length: example.tokens.count, adapters: nil, task: 0)
        func probability(layer: Int, head: Int, query: Int, key: Int) -> Float {
            let p = activations.probabilities(layer: layer)[0]
            return p.data[(head * p.shape[1] + query) * p.shape[2] + key]
        }
        var expected: Float = 0
        for query in queries {
            expected -= log(probability(layer: 0, head: 2, query: query, key: positions[2]) + probability(layer: 0, head: 2, query: query, key: positions[4]))
            expected -= log(probability(layer: 0, head: 0, query: query, key: 0))
        }
        XCTAssertEqual(loss, 0.5 * expected / 6, accuracy: 1e-4)

        let gradients = Gradients()
        gradients.register(LlavaTraining.namedWeights(of: model))
        LlavaTraining.step(model: model, examples: examples, options: options, gradients: gradients)
        func value() -> Double {
            let step = LlavaTraining.step(model: model, examples: examples, options: options, gradients: nil)
            return Double(step.loss) + Double(step.attentionLoss!)
        }
        for tensor in [model.text.layers[0].key.weight, model.text.layers[1].query.weight, model.projector.linear2.weight] {
            assertMatchesFiniteDifferences("\(tensor.shape)", tensor: tensor, analytic: gradients.of(tensor)!,
                                           indices: sampledIndices(of: tensor, count: 6),
                                           relative: 3e-2, absolute: 2e-4, loss: value)
        }
    }
}
