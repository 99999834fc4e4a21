import Foundation
import LLaVA
import Tensor
import XCTest
@testable import Continual

final class StrategyTests: XCTestCase {
    func testLLaCAWeightFormulaAndFallback() {
        // α = 2(1 + 3) / (40 · 2) = 0.1
        XCTAssertEqual(LLaCAEMA.weight(gradientNorm: 3, distance: 40, gradientChange: 2), 0.1, accuracy: 1e-6)
        XCTAssertEqual(LLaCAEMA.weight(gradientNorm: 3, distance: 1, gradientChange: 2), LLaCAEMA.fallback, "α ≥ 1 falls back")
        XCTAssertEqual(LLaCAEMA.weight(gradientNorm: 3, distance: 0, gradientChange: 2), LLaCAEMA.fallback, "zero denominator")
        XCTAssertEqual(LLaCAEMA.weight(gradientNorm: 3, distance: 40, gradientChange: nil), LLaCAEMA.fallback, "first step")
    }

    func testLLaCAResultIsTheAverageNotTheLastWeights() throws {
        let snapshot = try Snapshot.load(from: TuningTests.modelDirectory)
        let items = TuningTests.colourTask(TuningTests.warm, question: "What colour is the background?", count: 16, seed: 1)
        let task = ContinualTask(name: "warm", examples: try AdapterTuning.prepare(items, base: snapshot.base))
        let settings = AdapterSet.Settings(kind: .lora, targets: ["q_proj", "v_proj"], rank: 4, alpha: 8)
        let training = TrainingSettings(steps: 6, batchSize: 4, learningRate: 1e-2, warmupSteps: 1, seed: 3)
        let (plain, _) = try Strategies.learn(SequentialLoRA(), snapshot: snapshot, task: task, earlier: [], adapterSettings: settings, training: training)
        let (averaged, _) = try Strategies.learn(LLaCAEMA(), snapshot: snapshot, task: task, earlier: [], adapterSettings: settings, training: training)
        let plainB = plain.adapters!.namedTensors().first { $0.0.hasSuffix("lora_B") }!.1
        let averagedB = averaged.adapters!.namedTensors().first { $0.0.hasSuffix("lora_B") }!.1
        // Same run, so the last weights agree; the EMA (mostly α = 0.01 from B = 0) stays much closer to the start.
        let plainNorm = plainB.toArray().reduce(0) { $0 + abs($1) }, averagedNorm = averagedB.toArray().reduce(0) { $0 + abs($1) }
        XCTAssertGreaterThan(plainNorm, 0)
        XCTAssertLessThan(averagedNorm, plainNorm * 0.5)
    }

    func testReplayBufferIsDeterministicAndBounded() {
        let snapshotFree = (0 ..< 3).map { t in
            ContinualTask(name: "t\(t)", examples: (0 ..< 100).map { i in
                PreparedExample(item: LabeledItem(image: .init(width: 1, height: 1, pixels: [0, 0, 0]), question: "q\(i)", answer: "a"),
                                example: TrainingExample(image: nil, promptIds: [i], answerIds: [t]), imageFeature: [], textFeature: [])
            })
        }
        let a = Replay.buffer(snapshotFree, perTask: 10), b = Replay.buffer(snapshotFree, perTask: 10)
        XCTAssertEqual(a.count, 30)
        XCTAssertEqual(a.map(\.example.promptIds), b.map(\.example.promptIds))
        XCTAssertEqual(Set(a.map { $0.example.answerIds[0] }), [0, 1, 2])
    }

    func testJointStartsFromFreshAdaptersWithEveryTask() throws {
        let snapshot = try Snapshot.load(from: TuningTests.modelDirectory)
        let warm = ContinualTask(name: "warm", examples: try AdapterTuning.prepare(
            TuningTests.colourTask(TuningTests.warm, question: "What colour is the background?", count: 8, seed: 1), base: snapshot.base))
        let cold = ContinualTask(name: "cold", examples: try AdapterTuning.prepare(
            TuningTests.colourTask(TuningTests.cold, question: "Name the colour.", count: 8, seed: 2), base: snapshot.base))
        let plan = try JointTraining().plan(task: cold, earlier: [warm], snapshot: snapshot)
        XCTAssertTrue(plan.freshAdapters)
        XCTAssertEqual(plan.jointPool.count, 8)
        XCTAssertThrowsError(try Strategies.named("nope")) { XCTAssertTrue("\($0)".contains("unknown strategy nope")) }
    }
}
