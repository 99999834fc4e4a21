import Foundation
import LLaVA
import Tensor
import XCTest
@testable import Continual

/// Training to a plateau and judging what was learned: the mechanics, on the tiny fixture model.
final class TaskLearningTests: XCTestCase {
    /// The state kept is the one of the best check, not the last; the run stops after `patience` checks
    /// without a new best, and not before `minimumChecks`.
    func testTheBestStateIsKeptAndAPlateauStops() {
        let tensor = Tensor(shape: [2], values: [0, 0])
        let watch = TrainingWatch(task: "t", items: [], settings: .init(patience: 2, minimumChecks: 3, cooldownChecks: 0))
        var goOn: [Bool] = []
        for (step, correct) in [(1, 3), (2, 7), (3, 5), (4, 7), (5, 6)] {
            tensor.copy(from: Tensor(shape: [2], values: [Float(step), Float(correct)]))
            goOn.append(watch.record(.init(step: step, correct: correct, items: 10), tensors: [tensor], interval: 1))
        }
        XCTAssertEqual(goOn, [true, true, true, false, false], "two checks without beating 7 end the run")
        XCTAssertTrue(watch.stoppedOnPlateau)
        XCTAssertEqual(watch.best?.step, 2, "a tie does not replace the best")
        watch.restoreBest(into: [tensor])
        XCTAssertEqual(tensor.toArray(), [2, 7], "the best check's state is put back")

        let perfect = TrainingWatch(task: "t", items: [], settings: .init(patience: 5, minimumChecks: 3))
        XCTAssertFalse(perfect.record(.init(step: 1, correct: 10, items: 10), tensors: [tensor], interval: 1), "nothing left to learn")
        XCTAssertFalse(perfect.stoppedOnPlateau)
    }

    /// At the plateau the best state is put back and the run cools down for `cooldownChecks` intervals, the rate
    /// falling linearly to zero; a cool-down check that beats the best is kept, one that does not is dropped.
    func testAPlateauCoolsDownFromTheBestState() {
        for (cooled, bestStep) in [(8, 60), (6, 20)] {
            let tensor = Tensor(shape: [2], values: [0, 0])
            let watch = TrainingWatch(task: "t", items: [], settings: .init(patience: 2, minimumChecks: 3, cooldownChecks: 2))
            var goOn: [Bool] = []
            for (step, correct) in [(10, 3), (20, 7), (30, 5), (40, 6), (50, 6), (60, cooled)] {
                tensor.copy(from: Tensor(shape: [2], values: [Float(step), Float(correct)]))
                goOn.append(watch.record(.init(step: step, correct: correct, items: 10), tensors: [tensor], interval: 10))
                if step == 40 {
                    XCTAssertEqual(tensor.toArray(), [20, 7], "the plateau puts the best state back before cooling down")
                    XCTAssertFalse(watch.stoppedOnPlateau)
                }
            }
            XCTAssertEqual(goOn, [true, true, true, true, true, false], "two intervals of cool-down, then the end")
            XCTAssertTrue(watch.stoppedOnPlateau)
            XCTAssertEqual(watch.cooldown?.start, 40)
            XCTAssertEqual(watch.cooldown?.end, 60)
            XCTAssertEqual([39, 40, 45, 59].map { watch.rateFactor(step: $0) }, [1, 1, 0.75, 0.05])
            XCTAssertEqual(watch.best?.step, bestStep)
            watch.restoreBest(into: [tensor])
            XCTAssertEqual(tensor.toArray(), [Float(bestStep), Float(max(cooled, 7))])
        }
    }

    /// A watched run stops on its plateau well inside a large budget, and reports its checks.
    func testAWatchedRunStopsInsideItsBudget() throws {
        let snapshot = try Snapshot.load(from: TuningTests.modelDirectory)
        let question = "What colour is the background?"
        let train = try AdapterTuning.prepare(TuningTests.colourTask(TuningTests.warm, question: question, count: 32, seed: 1), base: snapshot.base)
        let watched = TuningTests.colourTask(TuningTests.warm, question: question, count: 12, seed: 2)
        let watch = TrainingWatch(task: "warm", items: watched, settings: .init(every: 8, patience: 3, minimumChecks: 3))
        let tuning = AdapterTuning(adapterSettings: .init(kind: .lora, targets: ["q_proj", "v_proj"], rank: 4, alpha: 8),
                                   training: TrainingSettings(steps: 400, batchSize: 8, learningRate: 1e-2, warmupSteps: 5, seed: 1))
        let (_, report) = try tuning.tune(snapshot: snapshot, name: "warm", examples: train, watch: watch)
        XCTAssertLessThan(report.steps, 400, "the run stopped early")
        XCTAssertEqual(report.steps, watch.checks.last?.step)
        XCTAssertEqual(watch.checks.map(\.step), Array(stride(from: 8, through: report.steps, by: 8)))
        XCTAssertEqual(watch.best?.correct, 12, "the colour task is learned to the end: \(watch.checks)")
    }

    /// Watch settings stored before the cool-down existed read back without one.
    func testStoredSettingsWithoutACooldownHaveNone() throws {
        let stored = #"{"patience": 6, "minimum_checks": 2, "max_items": 50}"#
        let settings = try JSONDecoder().decode(TrainingWatch.Settings.self, from: Data(stored.utf8))
        XCTAssertEqual(settings, .init(every: nil, patience: 6, minimumChecks: 2, maxItems: 50, cooldownChecks: 0))
        let again = try JSONDecoder().decode(TrainingWatch.Settings.self, from: JSONEncoder().encode(TrainingWatch.Settings(cooldownChecks: 3)))
        XCTAssertEqual(again.cooldownChecks, 3)
    }

    /// A run that plateaus cools down inside the trainer: the rates it reports fall linearly to zero over the
    /// cool-down's steps, and the run ends at the cool-down's end.
    func testAPlateauedRunCoolsDownInTheTrainer() throws {
        let snapshot = try Snapshot.load(from: TuningTests.modelDirectory)
        let words = ["alpha", "bravo", "delta", "echo", "golf", "hotel", "kilo", "lima", "mike", "oscar"]
        var generator = SplitMix64(seed: 4)
        func noise(_ items: [LabeledItem]) -> [LabeledItem] {
            items.map { LabeledItem(image: $0.image, question: "Which word?", answer: words.randomElement(using: &generator)!) }
        }
        let question = "What colour is the background?"
        let train = try AdapterTuning.prepare(noise(TuningTests.colourTask(TuningTests.warm, question: question, count: 16, seed: 1)),
                                              base: snapshot.base)
        let watched = noise(TuningTests.colourTask(TuningTests.warm, question: question, count: 12, seed: 2))
        let watch = TrainingWatch(task: "noise", items: watched, settings: .init(every: 4, patience: 2, minimumChecks: 2, cooldownChecks: 2))
        let training = TrainingSettings(steps: 300, batchSize: 8, learningRate: 1e-2, warmupSteps: 2, seed: 1)
        let tuning = AdapterTuning(adapterSettings: .init(kind: .lora, targets: ["q_proj", "v_proj"], rank: 4, alpha: 8), training: training)
        var rates: [Float] = []
        let (_, report) = try tuning.tune(snapshot: snapshot, name: "noise", examples: train, watch: watch) { rates.append($0.learningRate) }
        let cooldown = try XCTUnwrap(watch.cooldown, "random labels plateau: \(watch.checks)")
        XCTAssertEqual(report.steps, cooldown.end)
        XCTAssertTrue(watch.stoppedOnPlateau)
        let schedule = LearningRateSchedule(peak: 1e-2, warmupSteps: 2, totalSteps: 300)
        for step in 0 ..< report.steps {
            let factor: Float = step < cooldown.start ? 1 : Float(cooldown.end - step) / 8
            XCTAssertEqual(rates[step], schedule.rate(at: step) * factor, accuracy: 1e-7, "step \(step)")
        }
    }

    /// Before and after are measured on the same held-out items; a task learned from chance is `learned`,
    /// one whose labels carry nothing is `notLearned` and not promoted, and the summary says so.
    func testBeforeAndAfterUseTheSameItemsAndTheVerdictSaysWhy() throws {
        let snapshot = try Snapshot.load(from: TuningTests.modelDirectory)
        let question = "What colour is the background?"
        var settings = TaskLearning.Settings(adapter: .init(kind: .lora, targets: ["q_proj", "v_proj", "up_proj"], rank: 4, alpha: 8),
                                             batchSize: 8, learningRate: 1e-2, maxEpochs: 12)
        settings.watch = .init(every: 4, patience: 3, minimumChecks: 2)
        let learning = TaskLearning(settings: settings)
        let heldOut = TuningTests.colourTask(TuningTests.warm, question: question, count: 24, seed: 2)
        let train = try AdapterTuning.prepare(TuningTests.colourTask(TuningTests.warm, question: question, count: 32, seed: 1), base: snapshot.base)
        let learned = try learning.learn(SequentialLoRA(), parent: snapshot, task: .init(name: "warm", examples: train, heldOut: heldOut),
                                         earlier: [], index: 0)
        let before = try Evaluation.evaluate(snapshot: snapshot, items: heldOut, routing: .automatic(expected: nil))
        XCTAssertEqual(learned.before.items, heldOut.count)
        XCTAssertEqual(learned.after.items, heldOut.count)
        XCTAssertEqual(learned.before.correct, before.correct, "before is the parent on the same items")
        XCTAssertEqual(learned.verdict, .learned, learned.summary)
        XCTAssertTrue(learned.promote)
        XCTAssertTrue(learned.summary.hasPrefix("learned — warm: \(before.correct)/24 → \(learned.after.correct)/24"), learned.summary)

        // Labels drawn at random from ten words, whatever the image: nothing to learn beyond the commonest word.
        let words = ["alpha", "bravo", "delta", "echo", "golf", "hotel", "kilo", "lima", "mike", "oscar"]
        var generator = SplitMix64(seed: 9)
        func noise(_ items: [LabeledItem]) -> [LabeledItem] {
            items.map { LabeledItem(image: $0.image, question: "Which word?", answer: words.randomElement(using: &generator)!) }
        }
        let noisyTrain = try AdapterTuning.prepare(noise(TuningTests.colourTask(TuningTests.warm, question: question, count: 32, seed: 3)), base: snapshot.base)
        let noisy = try learning.learn(SequentialLoRA(), parent: snapshot,
                                       task: .init(name: "noise", examples: noisyTrain, heldOut: noise(heldOut)), earlier: [], index: 0)
        XCTAssertEqual(noisy.verdict, .notLearned, noisy.summary)
        XCTAssertFalse(noisy.promote)
        XCTAssertTrue(noisy.summary.hasPrefix("not learned — noise:") && noisy.summary.contains("Not promoted"), noisy.summary)
    }

    /// A revision is judged on its own held-out items and gated on the items the task was learned with: one
    /// whose new labels contradict the old ones learns them, but loses what the task knew and is not promoted.
    func testARevisionThatUnlearnsTheTaskIsNotPromoted() throws {
        let snapshot = try Snapshot.load(from: TuningTests.modelDirectory)
        let question = "What colour is the background?"
        var settings = TaskLearning.Settings(adapter: .init(kind: .branchLora, targets: ["q_proj", "v_proj", "up_proj"], rank: 4, alpha: 8,
                                                            branches: 4, topK: 2),
                                             batchSize: 8, learningRate: 1e-2, maxEpochs: 12)
        settings.watch = .init(every: 4, patience: 3, minimumChecks: 2)
        let learning = TaskLearning(settings: settings)
        let heldOut = TuningTests.colourTask(TuningTests.warm, question: question, count: 24, seed: 2)
        let train = try AdapterTuning.prepare(TuningTests.colourTask(TuningTests.warm, question: question, count: 32, seed: 1), base: snapshot.base)
        let learned = try learning.learn(BranchLoRAStrategy(), parent: snapshot, task: .init(name: "warm", examples: train, heldOut: heldOut),
                                         earlier: [], index: 0)
        XCTAssertEqual(learned.verdict, .learned, learned.summary)
        let swapped = [("yellow", TuningTests.warm[0].1), ("red", TuningTests.warm[1].1)]
        let contradicting = try AdapterTuning.prepare(TuningTests.colourTask(swapped, question: question, count: 32, seed: 3), base: snapshot.base)
        let revising = TaskLearning.Earlier(task: ContinualTask(name: "warm", examples: []), heldOut: heldOut, parentAccuracy: learned.after.accuracy)
        let revision = try learning.learn(BranchLoRAStrategy(), parent: learned.snapshot,
                                          task: .init(name: "warm", examples: contradicting,
                                                      heldOut: TuningTests.colourTask(swapped, question: question, count: 24, seed: 4),
                                                      revising: revising),
                                          earlier: [], index: 1)
        XCTAssertEqual(revision.snapshot.tasks, ["base", "warm"], "a revision continues the task")
        XCTAssertEqual(revision.verdict, .learned, revision.summary)
        XCTAssertEqual(revision.revisedAfter?.items, 24)
        XCTAssertFalse(revision.promote, revision.summary)
        XCTAssertTrue(revision.summary.contains("warm (the items it was learned with)"), revision.summary)
    }

    /// What training watches is what the tuned snapshot answers: the best check's count is the snapshot's own
    /// on the same items, for BranchLoRA too (whose live router must not gate decoded tokens by themselves).
    func testTheWatchedAccuracyIsTheTunedSnapshots() throws {
        let snapshot = try Snapshot.load(from: TuningTests.modelDirectory)
        let question = "What colour is the background?"
        // Answers of several tokens: a wrong gate on a decoded token shows after the first.
        let colours = [("crimson red paint", [UInt8]([230, 30, 30])), ("lemon yellow paint", [240, 220, 30])]
        let heldOut = TuningTests.colourTask(colours, question: question, count: 16, seed: 2)
        let train = try AdapterTuning.prepare(TuningTests.colourTask(colours, question: question, count: 32, seed: 1), base: snapshot.base)
        XCTAssertGreaterThan(ExampleBuilder(pipeline: snapshot.base, vision: .cachedFeatures).answerIds("crimson red paint").count, 3)
        for strategy in [BranchLoRAStrategy(), SequentialLoRA()] as [any ContinualStrategy] {
            // Top-1 of 4 branches: a decoded token gated by itself lands on an untrained branch.
            var settings = TaskLearning.Settings(adapter: .init(kind: .branchLora, targets: ["q_proj", "v_proj", "up_proj"], rank: 4, alpha: 8,
                                                                branches: 4, topK: 1),
                                                 batchSize: 8, learningRate: 1e-2, maxEpochs: 10)
            settings.watch = .init(every: 5, patience: 20, minimumChecks: 2)
            let outcome = try TaskLearning(settings: settings).learn(strategy, parent: snapshot,
                                                                     task: .init(name: "warm", examples: train, heldOut: heldOut), earlier: [], index: 0)
            let best = try XCTUnwrap(outcome.checks.max { $0.correct < $1.correct })
            let served = try Evaluation.evaluate(snapshot: outcome.snapshot, items: heldOut, routing: .task("warm"))
            XCTAssertEqual(served.correct, best.correct, "\(strategy.name): the snapshot answers as its best check did: \(outcome.checks)")
        }
    }

    func testTheVerdictNeedsAClearGainAndEnoughItems() {
        typealias Score = TaskLearning.Score
        XCTAssertEqual(TaskLearning.verdict(before: Score(correct: 2, items: 80), after: Score(correct: 70, items: 80)), .learned)
        XCTAssertEqual(TaskLearning.verdict(before: Score(correct: 20, items: 80), after: Score(correct: 24, items: 80)), .notLearned,
                       "25% → 30% on 80 items is within chance")
        XCTAssertEqual(TaskLearning.verdict(before: Score(correct: 40, items: 80), after: Score(correct: 30, items: 80)), .notLearned)
        XCTAssertEqual(TaskLearning.verdict(before: Score(correct: 0, items: 10), after: Score(correct: 10, items: 10)), .unmeasured,
                       "ten items are too few to tell")
        XCTAssertEqual(TaskLearning.verdict(before: Score(correct: 0, items: 0), after: Score(correct: 0, items: 0)), .unmeasured)
    }
}
