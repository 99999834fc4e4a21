import Foundation
import Imaging
import LLaVA
import XCTest
@testable import Continual

/// Attention targets that name a question word become the prompt position of the word's last token.
final class ExampleBuilderTests: XCTestCase {
    func testWordSlotsBecomePromptPositions() throws {
        let pipeline = try Snapshot.load(from: TuningTests.modelDirectory).base
        let builder = ExampleBuilder(pipeline: pipeline, vision: .pixels)
        let image = RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 90, count: 8 * 8 * 3))
        let item = LabeledItem(image: image, question: "Is the red circle left of the square?", answer: "yes",
                               attentionTargets: [[4, 5], [], [-1]],
                               attentionWords: [nil, "square", nil, "red", "circle", "violet"])
        let example = try builder.trainingExample(item)
        let targets = try XCTUnwrap(example.attentionTargets)
        XCTAssertEqual(targets.count, 6)
        XCTAssertEqual(targets[0], [4, 5], "a slot without a word keeps its patches")
        XCTAssertEqual(targets[2], [-1], "and its first-token target")
        XCTAssertEqual(targets[5], [], "a word the question lacks leaves the slot unsupervised")
        for (slot, word) in [(1, "square"), (3, "red"), (4, "circle")] {
            XCTAssertEqual(targets[slot].count, 1, word)
            let position = -1 - targets[slot][0]
            XCTAssertGreaterThan(position, example.promptIds.lastIndex(of: pipeline.model.config.imageTokenIndex)!, "\(word) is in the question")
            let upTo = pipeline.tokenizer.decode(Array(example.promptIds[...position]), skipSpecialTokens: true)
            XCTAssertTrue(upTo.lowercased().hasSuffix(word), "the prompt up to slot \(slot)'s position ends with \(word): \(upTo)")
            XCTAssertFalse(pipeline.tokenizer.decode(Array(example.promptIds[...(position - 1)]), skipSpecialTokens: true).lowercased().hasSuffix(word),
                           "the position is the word's last token, not a later one")
        }
    }

    /// An item whose prompt and answer do not fit the model's positions is refused with a reason that names it,
    /// instead of reaching the decoder (where it stopped the process); the tuner fails the job with this text.
    func testItemsBeyondThePositionsAreRefusedWithAReason() throws {
        let pipeline = try Snapshot.load(from: TuningTests.modelDirectory).base
        let builder = ExampleBuilder(pipeline: pipeline, vision: .cachedFeatures)
        let image = RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 90, count: 8 * 8 * 3))
        let fits = LabeledItem(image: image, question: "What colour is it?", answer: "red")
        let long = LabeledItem(image: image, question: String(repeating: "ab ", count: pipeline.model.rope.maxPositions), answer: "red")
        XCTAssertNoThrow(try builder.trainingExample(fits))
        XCTAssertThrowsError(try builder.trainingExample(long)) { error in
            guard case LlavaError.promptTooLong = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try builder.prepare([fits, long, fits])) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("item 1 (question \"ab ab"), text)
            XCTAssertTrue(text.contains("cannot be trained: the prompt needs"), text)
        }
    }
}
