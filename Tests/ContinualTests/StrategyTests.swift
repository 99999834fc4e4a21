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
        let bad = AdapterSet.Settings(kind: .moeLora, targets: ["q_proj"], rank: 6, alpha: 8, branches: 4)
        XCTAssertThrowsError(try Strategies.learn(MoELoRAStrategy(), snapshot: snapshot, task: cold, earlier: [], adapterSettings: bad,
                                                  training: TrainingSettings(steps: 1))) {
            XCTAssertTrue("\($0)".contains("must divide evenly"), "\($0)")
        }
    }
}

final class LLaVACTests: XCTestCase {
    /// One projection 4×3 with rank-1 updates, so the subspaces are easy to reason about.
    func set(_ a: [Float], _ b: [Float]) -> AdapterSet {
        let settings = AdapterSet.Settings(kind: .lora, targets: ["q_proj"], rank: 1, alpha: 1)
        return AdapterSet(settings: settings, layers: [["q_proj": LoRAAdapter(a: Tensor(shape: [1, 3], values: a),
                                                                              b: Tensor(shape: [4, 1], values: b), scale: 1)]])
    }

    func delta(_ adapters: AdapterSet) -> [Float] { adapters.adapter(layer: 0, projection: "q_proj")!.mergedDelta(task: 1)!.toArray() }

    func testSharedDirectionsAverageAndFreshDirectionsAdd() {
        let old = set([1, 0, 0], [2, 0, 0, 0])  // ΔW = e1 ⊗ (2, 0, 0)
        // Same left direction: the new update counts half.
        let same = LLaVAC.consolidate(accumulated: old, new: set([0, 1, 0], [4, 0, 0, 0]), energy: 0.9, maximumRank: 8)
        let expectedSame: [Float] = [2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        for (x, y) in zip(delta(same), expectedSame) { XCTAssertEqual(x, y, accuracy: 1e-4) }
        // Orthogonal left direction: the new update adds fully.
        let fresh = LLaVAC.consolidate(accumulated: old, new: set([0, 1, 0], [0, 4, 0, 0]), energy: 0.9, maximumRank: 8)
        let expectedFresh: [Float] = [2, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]
        for (x, y) in zip(delta(fresh), expectedFresh) { XCTAssertEqual(x, y, accuracy: 1e-4) }
        XCTAssertEqual(fresh.settings.rank, 2, "two independent directions need rank 2")
        // Without an accumulated update the new one is kept as is.
        let first = LLaVAC.consolidate(accumulated: nil, new: set([0, 1, 0], [0, 4, 0, 0]), energy: 0.9, maximumRank: 8)
        for (x, y) in zip(delta(first), [Float](arrayLiteral: 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0)) { XCTAssertEqual(x, y, accuracy: 1e-4) }
    }

    /// Inquiries are text-only: the image marker goes, with its line break, wherever the template puts it.
    func testTextOnlyTemplateDropsTheImageWherever() {
        for template in ["USER: <image>\n{question} ASSISTANT:", "USER: {question}\n<image> ASSISTANT:", "USER: <image>{question} ASSISTANT:"] {
            XCTAssertEqual(LLaVAC.textOnlyTemplate(ModelSettings(promptTemplate: template)), "USER: {question} ASSISTANT:", template)
        }
    }
}

/// Every strategy runs two tasks end to end on the tiny model and leaves a loadable, answering snapshot.
final class StrategyChainTests: XCTestCase {
    func testEveryStrategyLearnsTwoTasksAndRoundTrips() throws {
        let snapshot = try Snapshot.load(from: TuningTests.modelDirectory)
        let warm = ContinualTask(name: "warm", examples: try AdapterTuning.prepare(
            TuningTests.colourTask(TuningTests.warm, question: "What colour is the background?", count: 8, seed: 1), base: snapshot.base))
        let cold = ContinualTask(name: "cold", examples: try AdapterTuning.prepare(
            TuningTests.colourTask(TuningTests.cold, question: "Name the colour.", count: 8, seed: 2), base: snapshot.base))
        let settings = AdapterSet.Settings(kind: .lora, targets: ["q_proj", "v_proj"], rank: 4, alpha: 8, branches: 4, topK: 2)
        let training = TrainingSettings(steps: 3, batchSize: 4, learningRate: 1e-2, warmupSteps: 1, seed: 3)
        for name in Strategies.names {
            let strategy = try Strategies.named(name)
            let (first, _) = try Strategies.learn(strategy, snapshot: snapshot, task: warm, earlier: [], adapterSettings: settings, training: training)
            let (second, _) = try Strategies.learn(strategy, snapshot: first, task: cold, earlier: [warm], adapterSettings: settings, training: training)
            XCTAssertEqual(second.tasks, ["base", "warm", "cold"], name)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-\(name)-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try second.save(to: directory, manifest: SnapshotManifest(base: TuningTests.modelDirectory.path, strategy: name))
            let loaded = try Snapshot.load(from: directory)
            let item = cold.examples[0].item
            let a = try second.answer(image: item.image, question: item.question, task: "cold", maxNewTokens: 3)
            let b = try loaded.answer(image: item.image, question: item.question, task: "cold", maxNewTokens: 3)
            XCTAssertEqual(a.answer.generation.tokenIds, b.answer.generation.tokenIds, name)
        }
    }
}

final class FwdPromptTests: XCTestCase {
    func testProjectionsAreOrthogonalToTheStoredSubspaceAndInsideThePretrainedOne() throws {
        var generator = SplitMix64(seed: 9)
        let rows = Tensor(zeros: [12, 6])
        // Earlier inputs live in a 2-D subspace of the 6-D space.
        for r in 0 ..< 12 {
            let a = Float.random(in: -1 ... 1, using: &generator), b = Float.random(in: -1 ... 1, using: &generator)
            for j in 0 ..< 6 { rows.data[r * 6 + j] = a * Float(j + 1) + b * Float(j % 2 == 0 ? 1 : -1) }
        }
        let basis = try FwdPrompt.subspace(rows, energy: 0.999)
        XCTAssertEqual(basis.rows, 2)
        let gradient = Tensor(zeros: [3, 6])
        for i in 0 ..< gradient.count { gradient.data[i] = Float.random(in: -1 ... 1, using: &generator) }
        FwdPrompt.removeProjection(gradient, onto: basis)
        let overlap = Tensor(zeros: [3, 2])
        BLAS.matmul(gradient, basis, transposeB: true, into: overlap)
        for value in overlap.toArray() { XCTAssertEqual(value, 0, accuracy: 1e-5, "projected gradient touches the stored subspace") }
        for row in 0 ..< 12 {
            var dot: Float = 0
            for j in 0 ..< 6 { dot += gradient.data[j] * rows.data[row * 6 + j] }
            XCTAssertEqual(dot, 0, accuracy: 1e-4)
        }
        // Keeping the projection onto a subspace is idempotent and stays inside it.
        let inside = gradient.copy()
        FwdPrompt.keepProjection(inside, onto: basis)
        let again = inside.copy()
        FwdPrompt.keepProjection(again, onto: basis)
        for (x, y) in zip(inside.toArray(), again.toArray()) { XCTAssertEqual(x, y, accuracy: 1e-5) }
    }

    func testPromptSelectionAndPlaceholders() {
        let table = Tensor.uniformForTests([10, 4])
        let pool = PromptPool(size: 4, length: 3, topK: 2, embeddings: table, featureDimension: 4, seed: 1)
        let chosen = pool.select(pool.keys[2].toArray())
        XCTAssertEqual(chosen.first, 2, "a key's own direction selects it first")
        XCTAssertEqual(chosen.count, 2)
        XCTAssertEqual(pool.insertPlaceholders(into: [7, 8, 9]), [7] + Array(repeating: TrainingExample.softPromptId, count: 6) + [8, 9])
        XCTAssertEqual(pool.softPrompt(chosen).shape, [6, 4])
    }
}

extension Tensor {
    static func uniformForTests(_ shape: [Int]) -> Tensor {
        let t = Tensor(zeros: shape)
        var generator = SplitMix64(seed: 4)
        for i in 0 ..< t.count { t.data[i] = Float.random(in: -1 ... 1, using: &generator) }
        return t
    }
}
