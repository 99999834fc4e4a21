import Foundation
import Imaging
import LLaVA
import Tensor
import XCTest
@testable import Continual

/// Tuning a tiny random model on tiny tasks: the adapters must learn, keep earlier tasks, and route.
final class TuningTests: XCTestCase {
    static let modelDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/mha_untied_default_m2_f32")

    /// Solid backgrounds with a square: the answer is the background's colour word.
    static func colourTask(_ colours: [(String, [UInt8])], question: String, count: Int, seed: UInt64) -> [LabeledItem] {
        var generator = SplitMix64(seed: seed)
        return (0 ..< count).map { index in
            let (name, rgb) = colours[index % colours.count]
            var pixels = [UInt8](repeating: 0, count: 40 * 40 * 3)
            let x0 = Int.random(in: 0 ..< 30, using: &generator), y0 = Int.random(in: 0 ..< 30, using: &generator)
            for y in 0 ..< 40 {
                for x in 0 ..< 40 {
                    let inside = x >= x0 && x < x0 + 10 && y >= y0 && y < y0 + 10
                    for c in 0 ..< 3 { pixels[(y * 40 + x) * 3 + c] = inside ? 128 : rgb[c] }
                }
            }
            return LabeledItem(image: RGBImage(width: 40, height: 40, pixels: pixels), question: question, answer: name)
        }
    }

    static let warm = [("red", [UInt8]([230, 30, 30])), ("yellow", [240, 220, 30])]
    static let cold = [("blue", [UInt8]([30, 40, 230])), ("green", [30, 200, 60])]

    func tuning(_ kind: AdapterSet.Kind, steps: Int = 60) -> AdapterTuning {
        AdapterTuning(adapterSettings: .init(kind: kind, targets: ["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"],
                                             rank: 4, alpha: 8, branches: 4, topK: 2),
                      training: TrainingSettings(steps: steps, batchSize: 8, learningRate: 1e-2, warmupSteps: 5, seed: 1))
    }

    func testLoRALearnsATaskFromChance() throws {
        let snapshot = try Snapshot.load(from: Self.modelDirectory)
        let train = try AdapterTuning.prepare(Self.colourTask(Self.warm, question: "What colour is the background?", count: 48, seed: 1),
                                              base: snapshot.base)
        let heldOut = Self.colourTask(Self.warm, question: "What colour is the background?", count: 16, seed: 2)
        let before = try Evaluation.evaluate(snapshot: snapshot, items: heldOut, routing: .automatic(expected: nil))
        let (tuned, report) = try tuning(.lora).tune(snapshot: snapshot, name: "warm", examples: train)
        let after = try Evaluation.evaluate(snapshot: tuned, items: heldOut, routing: .task("warm"))
        XCTAssertLessThan(before.accuracy, 0.5, "the random model should not already know the task")
        XCTAssertGreaterThanOrEqual(after.accuracy, 0.9, "LoRA tuning should learn the task (final loss \(report.finalLoss))")
        XCTAssertNil(snapshot.adapters, "tuning must not change the snapshot it started from")
    }

    static let warmQuestion = "What colour is the background?", coldQuestion = "Name the colour behind the square."

    /// The fixture model, BranchLoRA learning "warm" (48 items) and then "cold" on top of it, and warm's examples.
    func warmThenCold() throws -> (base: Snapshot, first: Snapshot, second: Snapshot, warm: [PreparedExample]) {
        let snapshot = try Snapshot.load(from: Self.modelDirectory)
        let warm = try AdapterTuning.prepare(Self.colourTask(Self.warm, question: Self.warmQuestion, count: 48, seed: 1), base: snapshot.base)
        let cold = try AdapterTuning.prepare(Self.colourTask(Self.cold, question: Self.coldQuestion, count: 48, seed: 3), base: snapshot.base)
        let (first, _) = try tuning(.branchLora).tune(snapshot: snapshot, name: "warm", examples: warm)
        let (second, _) = try tuning(.branchLora).tune(snapshot: first, name: "cold", examples: cold)
        return (snapshot, first, second, warm)
    }

    func testBranchLoRAKeepsTheFirstTaskAndRoutesByInput() throws {
        let (_, first, second, _) = try warmThenCold()
        XCTAssertEqual(second.tasks, ["base", "warm", "cold"])
        let warmHeldOut = Self.colourTask(Self.warm, question: Self.warmQuestion, count: 16, seed: 4)
        let coldHeldOut = Self.colourTask(Self.cold, question: Self.coldQuestion, count: 16, seed: 5)
        let warmAfterFirst = try Evaluation.evaluate(snapshot: first, items: warmHeldOut, routing: .task("warm")).accuracy
        let warmAfterSecond = try Evaluation.evaluate(snapshot: second, items: warmHeldOut, routing: .automatic(expected: "warm"))
        let coldAfterSecond = try Evaluation.evaluate(snapshot: second, items: coldHeldOut, routing: .automatic(expected: "cold"))
        XCTAssertGreaterThanOrEqual(warmAfterFirst, 0.9)
        XCTAssertGreaterThanOrEqual(coldAfterSecond.accuracy, 0.9)
        XCTAssertGreaterThanOrEqual(warmAfterSecond.accuracy, warmAfterFirst - 0.07, "the first task must not be forgotten")
        XCTAssertEqual(warmAfterSecond.selectorAccuracy ?? 0, 1, accuracy: 0.01)
        XCTAssertEqual(coldAfterSecond.selectorAccuracy ?? 0, 1, accuracy: 0.01)
    }

    /// A revision continues a learned task with new items (users' corrections): the task list and every other
    /// task's answers stay exactly as they were, the revised task learns the new items and keeps the old ones.
    func testRevisingATaskLearnsTheNewItemsAndLeavesTheOthersExact() throws {
        let (snapshot, _, second, warm) = try warmThenCold()
        let warmQuestion = Self.warmQuestion, coldQuestion = Self.coldQuestion
        let orange = [("orange", [UInt8]([240, 140, 20]))]
        let corrections = try AdapterTuning.prepare(Self.colourTask(orange, question: warmQuestion, count: 24, seed: 6), base: snapshot.base)
        let orangeHeldOut = Self.colourTask(orange, question: warmQuestion, count: 8, seed: 7)
        let warmHeldOut = Self.colourTask(Self.warm, question: warmQuestion, count: 16, seed: 4)
        let coldItem = Self.colourTask(Self.cold, question: coldQuestion, count: 1, seed: 5)[0]
        XCTAssertThrowsError(try tuning(.branchLora).tune(snapshot: second, name: "warm", examples: corrections), "a second task of the same name")
        XCTAssertThrowsError(try tuning(.branchLora).tune(snapshot: second, name: "hot", examples: corrections, revise: true), "no task to continue")

        let (revised, _) = try tuning(.branchLora).tune(snapshot: second, name: "warm", examples: warm + corrections, revise: true)
        XCTAssertEqual(revised.tasks, ["base", "warm", "cold"])
        let orangeBefore = try Evaluation.evaluate(snapshot: second, items: orangeHeldOut, routing: .task("warm")).accuracy
        let orangeAfter = try Evaluation.evaluate(snapshot: revised, items: orangeHeldOut, routing: .automatic(expected: "warm"))
        XCTAssertEqual(orangeBefore, 0, "the task did not know the new colour")
        XCTAssertGreaterThanOrEqual(orangeAfter.accuracy, 0.75, "the revision learned it")
        XCTAssertGreaterThanOrEqual(try Evaluation.evaluate(snapshot: revised, items: warmHeldOut, routing: .task("warm")).accuracy, 0.9,
                                    "and kept what the task knew")
        let a = try second.answer(image: coldItem.image, question: coldItem.question, task: "cold", maxNewTokens: 3, topLogprobs: 1)
        let b = try revised.answer(image: coldItem.image, question: coldItem.question, task: "cold", maxNewTokens: 3, topLogprobs: 1)
        XCTAssertEqual(a.answer.generation.firstLogits, b.answer.generation.firstLogits, "another task's answers are exactly unchanged")
    }

    func testSnapshotRoundTripsThroughDisk() throws {
        let snapshot = try Snapshot.load(from: Self.modelDirectory)
        let train = try AdapterTuning.prepare(Self.colourTask(Self.warm, question: "What colour is the background?", count: 16, seed: 1),
                                              base: snapshot.base)
        let (tuned, _) = try tuning(.branchLora, steps: 5).tune(snapshot: snapshot, name: "warm", examples: train)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-snapshot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try tuned.save(to: directory, manifest: SnapshotManifest(base: Self.modelDirectory.path, strategy: "branchlora"))
        let loaded = try Snapshot.load(from: directory)
        XCTAssertEqual(loaded.tasks, tuned.tasks)
        let item = Self.colourTask(Self.warm, question: "What colour is the background?", count: 1, seed: 9)[0]
        for task in tuned.tasks {
            let a = try tuned.answer(image: item.image, question: item.question, task: task, maxNewTokens: 4, topLogprobs: 3)
            let b = try loaded.answer(image: item.image, question: item.question, task: task, maxNewTokens: 4, topLogprobs: 3)
            XCTAssertEqual(a.answer.generation.tokenIds, b.answer.generation.tokenIds, task)
            XCTAssertEqual(a.answer.generation.firstLogits, b.answer.generation.firstLogits, task)
        }
    }
}
