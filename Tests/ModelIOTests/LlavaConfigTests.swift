import Foundation
import XCTest
@testable import ModelIO

final class LlavaConfigTests: XCTestCase {
    func decode(_ json: String) throws -> LlavaConfig { try JSONDecoder().decode(LlavaConfig.self, from: Data(json.utf8)) }

    func testTransformersDefaultsForAbsentFields() throws {
        let config = try decode(#"{"text_config": {"hidden_size": 64, "num_attention_heads": 4}}"#)
        XCTAssertEqual(config.textConfig.numKeyValueHeads, 4)
        XCTAssertEqual(config.textConfig.headDim, 16)
        XCTAssertEqual(config.textConfig.ropeTheta, 10000)
        XCTAssertEqual(config.textConfig.vocabSize, 32000)
        XCTAssertEqual(config.visionConfig, .llavaDefault)
        XCTAssertEqual(config.visionFeatureLayers, [-2])
        XCTAssertEqual(config.visionFeatureSelectStrategy, "default")
        XCTAssertEqual(config.imageTokenIndex, 32000)
        XCTAssertEqual(config.imageFeatureCount, 576)
        XCTAssertEqual(config.featureHiddenStateIndices, [23])
    }

    func testRopeThetaFromEitherPlace() throws {
        XCTAssertEqual(try decode(#"{"text_config": {"rope_theta": 500000}}"#).textConfig.ropeTheta, 500000)
        let new = try decode(#"{"text_config": {"rope_parameters": {"rope_theta": 1000, "rope_type": "default"}}}"#)
        XCTAssertEqual(new.textConfig.ropeTheta, 1000)
        let scaled = try decode(#"{"text_config": {"rope_parameters": {"rope_theta": 1000, "rope_type": "yarn"}}}"#)
        XCTAssertThrowsError(try scaled.validate()) { XCTAssertTrue("\($0)".contains("rope type yarn")) }
    }

    func testFeatureLayerListAndTiedEmbeddings() throws {
        let config = try decode(#"{"vision_feature_layer": [-3, -1], "text_config": {"tie_word_embeddings": true, "eos_token_id": [2, 7]},"vision_config": {"num_hidden_layers": 4}}"#)
        XCTAssertEqual(config.visionFeatureLayers, [-3, -1])
        XCTAssertEqual(config.featureHiddenStateIndices, [2, 4])
        XCTAssertTrue(config.tieWordEmbeddings)
        XCTAssertEqual(config.textConfig.eosTokenIds, [2, 7])
    }

    func testEncodeDecodeRoundTrip() throws {
        let config = try decode(#"{"image_token_index": 5, "vision_feature_select_strategy": "full", "text_config": {"vocab_size": 10, "rope_theta": 123}}"#)
        let again = try JSONDecoder().decode(LlavaConfig.self, from: JSONEncoder().encode(config))
        XCTAssertEqual(config, again)
    }

    func testValidationErrors() throws {
        XCTAssertThrowsError(try decode(#"{"vision_feature_select_strategy": "cls", "text_config": {}}"#).validate()) {
            XCTAssertTrue("\($0)".contains("vision_feature_select_strategy"))
        }
        XCTAssertThrowsError(try decode(#"{"image_token_index": 99, "text_config": {"vocab_size": 10}}"#).validate()) {
            XCTAssertTrue("\($0)".contains("outside the vocabulary"))
        }
        XCTAssertThrowsError(try decode(#"{"projector_hidden_act": "mish", "text_config": {}}"#).validate()) {
            XCTAssertTrue("\($0)".contains("mish"))
        }
    }
}
