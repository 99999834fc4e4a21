import Foundation
import LLaVA
import Tensor
import Tokenizer
import XCTest
@testable import Continual

/// The reference recipe's feature layer decides which tower layers reach the projector.
final class ModelRecipeTests: XCTestCase {
    static let tokenizer = BPETrainer(vocabularySize: 300, specialTokens: ["<s>", "</s>", "<pad>", "<image>"],
                                      bosToken: "<s>", eosToken: "</s>", padToken: "<pad>")
        .train(corpus: ["What colour is the circle?", " red", "How many shapes?", " 3"])

    /// Image features of a fixed image, before and after the tower's last layer is changed.
    func featuresBeforeAndAfterChangingLastLayer(featureLayer: Int) throws -> (Tensor, Tensor) {
        let config = ModelRecipe.reference(tokenizer: Self.tokenizer, visionFeatureLayer: featureLayer)
        try config.validate()
        var model = LlavaModel.randomlyInitialized(config: config, seed: 5)
        let v = config.visionConfig
        let pixels = Tensor(zeros: [v.numChannels, v.imageSize, v.imageSize])
        for i in 0 ..< pixels.count { pixels.data[i] = Float((i * 7919) % 113) / 56 - 1 }
        let before = try model.imageFeatures(pixels: pixels)
        let last = model.vision.layers.count - 1
        let fc2 = model.vision.layers[last].fc2.weight.copy()
        for i in 0 ..< fc2.count { fc2.data[i] += 0.05 }
        model.vision.layers[last].fc2.weight = fc2
        return (before, try model.imageFeatures(pixels: pixels))
    }

    func testDefaultFeatureLayerLeavesTheLastTowerLayerOut() throws {
        let (before, after) = try featuresBeforeAndAfterChangingLastLayer(featureLayer: -2)
        XCTAssertEqual(before.toArray(), after.toArray(), "LLaVA's −2 reads the layer before the last")
    }

    func testLastFeatureLayerUsesEveryTowerLayer() throws {
        let config = ModelRecipe.reference(tokenizer: Self.tokenizer, visionFeatureLayer: -1)
        XCTAssertEqual(config.visionLayersNeeded, config.visionConfig.numHiddenLayers)
        let (before, after) = try featuresBeforeAndAfterChangingLastLayer(featureLayer: -1)
        let change = zip(before.toArray(), after.toArray()).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(change, 1e-4, "with −1 the last layer's weights reach the projector")
    }
}
