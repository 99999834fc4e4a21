import Foundation
import Imaging
import ModelIO
import Tensor
import XCTest
@testable import LLaVA

/// The model against transformers on the same checkpoints (scripts/fixtures_models.py).
final class LlavaReferenceTests: XCTestCase {
    func testFixturesExist() {
        XCTAssertGreaterThanOrEqual(ModelFixtures.names.count, 4, "run scripts/make_fixtures.py")
    }

    func testImageFeaturesMatchTransformers() throws {
        for name in ModelFixtures.names {
            let model = try LlavaModel.load(from: ModelFixtures.directory(name))
            let reference = try ModelFixtures.tensors(name)
            let features = try model.imageFeatures(pixels: reference.tensor("pixel_values"))
            let expected = try reference.tensor("image_features")
            XCTAssertEqual(features.shape, expected.shape, name)
            let (error, diff, _) = ModelFixtures.relativeError(features, expected)
            XCTAssertLessThan(error, 1e-4, "\(name): image features differ by \(diff)")
        }
    }

    func testLogitsOfEveryPromptPositionMatchTransformers() throws {
        for name in ModelFixtures.names {
            let model = try LlavaModel.load(from: ModelFixtures.directory(name))
            let reference = try ModelFixtures.tensors(name)
            let prompt = try ModelFixtures.reference(name).prompt_ids
            let logits = try ModelFixtures.promptLogits(model, fixture: name)
            let all = try reference.tensor("all_logits")
            let (error, diff, scale) = ModelFixtures.relativeError(logits, all)
            print("\(name): logits max diff \(diff), max |logit| \(scale)")
            XCTAssertLessThan(error, 1e-4, "\(name): logits differ by \(diff) (max |logit| \(scale))")
            let last = try reference.tensor("last_logits")
            let (lastError, _, _) = ModelFixtures.relativeError(logits.slice(prompt.count - 1 ..< prompt.count), last)
            XCTAssertLessThan(lastError, 1e-4, "\(name): final logits")
        }
    }

    /// The whole `mneme ask` path: image file → decode → preprocess → template → tokenizer → greedy decoding.
    func testEndToEndAnswerMatchesTransformers() throws {
        for name in ModelFixtures.names {
            let directory = ModelFixtures.directory(name)
            let pipeline = try LlavaPipeline.load(from: directory)
            let reference = try ModelFixtures.reference(name)
            let image = try ImageDecoder.decode(Data(contentsOf: directory.appendingPathComponent("image.png")))
            let pixels = pipeline.pixels(of: image)
            let (pixelError, pixelDiff, _) = ModelFixtures.relativeError(pixels, try ModelFixtures.tensors(name).tensor("pixel_values"))
            XCTAssertLessThan(pixelError, 1e-6, "\(name): preprocessing differs by \(pixelDiff)")
            XCTAssertEqual(try pipeline.promptIds(question: reference.question), reference.prompt_ids, "\(name): prompt ids")
            let answer = try pipeline.answer(image: image, question: reference.question, maxNewTokens: reference.top_logprobs.count,
                                             topLogprobs: 5)
            XCTAssertEqual(answer.generation.tokenIds, reference.greedy_tokens, "\(name): greedy tokens")
            XCTAssertEqual(answer.text, reference.answer, "\(name): decoded answer")
            XCTAssertEqual(answer.generation.topLogprobs.count, reference.top_logprobs.count, name)
            for (step, (ours, theirs)) in zip(answer.generation.topLogprobs, reference.top_logprobs).enumerated() {
                XCTAssertEqual(ours.map(\.tokenId), theirs.map(\.token_id), "\(name): top tokens at step \(step)")
                for (a, b) in zip(ours, theirs) {
                    XCTAssertEqual(a.logprob, b.logprob, accuracy: 1e-4 * max(1, abs(b.logprob)), "\(name): logprob at step \(step)")
                }
            }
        }
    }
}
