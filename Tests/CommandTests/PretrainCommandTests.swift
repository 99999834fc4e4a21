import Foundation
import LLaVA
import ShapesWorld
import XCTest
@testable import mneme

/// `pretrain.json` records the command that repeats a run; the model card quotes it. It must carry every
/// option that changes the model, or a reproduction silently trains something else.
final class PretrainCommandTests: XCTestCase {
    private func recorded(_ arguments: [String]) throws -> (Pretrain, String) {
        let run = try Pretrain.parse(arguments)
        return (run, run.recipeCommand)
    }

    func testRecordedCommandRepeatsEveryNonDefaultOption() throws {
        let (original, command) = try recorded([
            "--out", "/tmp/m", "--seed", "7", "--steps", "120", "--batch", "16", "--lr", "0.0002", "--warmup", "10",
            "--patch-loss", "0.5", "--tower-steps", "30", "--tower-batch", "8", "--tower-lr", "0.002",
            "--tower-mix", "glyph=3", "--patch-labels", "identity,glyph", "--vision-feature-layer", "-1",
            "--attention-loss", "2", "--attention-queries", "every-answer-token", "--curriculum",
            "--eval-every", "40", "--eval-items", "12", "--families", "count,glyph", "--resume",
        ])
        let words = command.split(separator: " ").map(String.init)
        XCTAssertEqual(Array(words.prefix(2)), ["mneme", "pretrain"])
        let repeated = try Pretrain.parse(Array(words.dropFirst(2)))

        XCTAssertEqual(repeated.visionFeatureLayer, -1)
        XCTAssertEqual(repeated.patchLabels, original.patchLabels)
        XCTAssertEqual(repeated.towerMix, original.towerMix)
        XCTAssertEqual(repeated.attentionQueries, original.attentionQueries)
        XCTAssertEqual(repeated.families, original.families)
        XCTAssertEqual([repeated.seed, UInt64(repeated.steps), UInt64(repeated.batch), UInt64(repeated.warmup)], [7, 120, 16, 10])
        XCTAssertEqual([repeated.towerSteps, repeated.towerBatch, repeated.evalEvery, repeated.evalItems], [30, 8, 40, 12])
        XCTAssertEqual([repeated.lr, repeated.patchLoss, repeated.towerLr, repeated.attentionLoss], [0.0002, 0.5, 0.002, 2])
        XCTAssertTrue(repeated.curriculum)
        // A continued run says so (its pretrain.json has the step it resumed from).
        XCTAssertTrue(repeated.resume)
        XCTAssertEqual(repeated.recipeCommand, command)
    }

    func testDefaultsStayOutOfTheCommand() throws {
        let (_, command) = try recorded(["--out", "m"])
        XCTAssertFalse(command.contains("--vision-feature-layer"), command)
        XCTAssertFalse(command.contains("--patch-labels"), command)
        XCTAssertFalse(command.contains("--families"), command)
        XCTAssertFalse(command.contains("--attention"), command)
        XCTAssertFalse(command.contains("--resume"), command)
    }

    /// `mneme base-keys --families` takes the pretraining families (the shipped model's are more than `base`);
    /// without it, those the model's pretrain.json records; it names a family it does not know before it loads anything.
    func testBaseKeysTakeThePretrainingFamilies() throws {
        XCTAssertNil(try BaseKeys.parse([]).families)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let recorded = BaseKeys.pretrainedFamilies(in: root.appendingPathComponent("models/default"))
        XCTAssertEqual(QuestionFamily.parseList(recorded).families, QuestionFamily.parseList("base,count-size,exists-plural").families,
                       "the shipped model's twelve families, in its recipe's order (the order of its keys)")
        XCTAssertEqual(BaseKeys.pretrainedFamilies(in: URL(fileURLWithPath: "/nonexistent")), "base", "no report: the base families")
        let listed = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-families-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: listed, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: listed) }
        try Data(#"{"families": ["count", "glyph"], "accuracy": {"colour": 1}}"#.utf8).write(to: listed.appendingPathComponent("pretrain.json"))
        XCTAssertEqual(BaseKeys.pretrainedFamilies(in: listed), "count,glyph", "a recorded list wins over the measured families")
        XCTAssertThrowsError(try BaseKeys.parse(["--model", "/nonexistent", "--families", "base,count-sizes"]).run()) { error in
            XCTAssertTrue("\(error)".contains("count-sizes"), "\(error)")
        }
        let shipped = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("models/default/pretrain.json"))) as? [String: Any]
        let command = try XCTUnwrap(shipped?["command"] as? String)
        let families = try XCTUnwrap(command.components(separatedBy: "--families ").last?.split(separator: " ").first)
        XCTAssertTrue(QuestionFamily.parseList(String(families)).unknown.isEmpty, "the shipped recipe's families parse: \(families)")
    }

    /// The recipe trains the shipped model's tokenizer byte for byte: a family added to ShapesWorld must not
    /// change the text it is trained on (it did once: the corpus was every family, and `count-size` changed it).
    func testRecipeTrainsTheShippedTokenizer() throws {
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/default")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        try Pretrain.trainTokenizer(world: ShapesWorld(seed: 0), promptTemplate: ModelSettings.defaultTemplate).write(to: out)
        for file in ["tokenizer.json", "tokenizer_config.json"] {
            XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent(file)), try Data(contentsOf: shipped.appendingPathComponent(file)), file)
        }
    }
}
