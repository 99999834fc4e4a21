import Foundation
import LLaVA
import Tensor

/// Watches a tuning run on held-out items: every `every` steps it measures the model as it is trained, keeps a
/// copy of the trained tensors whenever the accuracy is the best so far, and calls a plateau when `patience`
/// checks in a row have not beaten the best. The run then stops and the best state is put back, so a task is
/// trained until it stops improving, not for a fixed number of epochs, and ends at its best point. With
/// `cooldownChecks`, the plateau first sends the run back to its best state for that many more check intervals
/// with the learning rate falling linearly to zero (off by default: on the benchmark sequence it found a new
/// best for one task of eight, docs/RESULTS.md; docs/DESIGN.md §4).
public final class TrainingWatch {
    public struct Settings: Sendable, Codable, Equatable {
        /// Steps between checks; nil: one epoch of the task's training items, but at least `minimumInterval`
        /// steps (a task of a few items is not judged after a handful of steps).
        public var every: Int?
        /// Checks in a row without a new best before the run stops.
        public var patience: Int
        /// Checks made before a plateau may stop the run.
        public var minimumChecks: Int
        /// At most this many held-out items are evaluated per check (the first ones, always the same).
        public var maxItems: Int
        /// Check intervals run after the plateau, from the best state, with the learning rate falling to zero;
        /// 0 stops at the plateau.
        public var cooldownChecks: Int

        public init(every: Int? = nil, patience: Int = 4, minimumChecks: Int = 3, maxItems: Int = 200, cooldownChecks: Int = 0) {
            self.every = every
            self.patience = patience
            self.minimumChecks = minimumChecks
            self.maxItems = maxItems
            self.cooldownChecks = cooldownChecks
        }

        enum CodingKeys: String, CodingKey {
            case every, patience, minimumChecks = "minimum_checks", maxItems = "max_items", cooldownChecks = "cooldown_checks"
        }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.init(every: try container.decodeIfPresent(Int.self, forKey: .every),
                      patience: try container.decode(Int.self, forKey: .patience),
                      minimumChecks: try container.decode(Int.self, forKey: .minimumChecks),
                      maxItems: try container.decode(Int.self, forKey: .maxItems),
                      // Settings stored before the cool-down existed have none.
                      cooldownChecks: try container.decodeIfPresent(Int.self, forKey: .cooldownChecks) ?? 0)
        }
    }

    /// One measurement: after `step` optimiser steps, `correct` of `items` held-out items were answered right.
    public struct Check: Sendable, Codable, Equatable {
        public var step: Int
        public var correct: Int
        public var items: Int
        public var accuracy: Double { items == 0 ? 0 : Double(correct) / Double(items) }
    }

    public let settings: Settings
    public let task: String
    let items: [LabeledItem]
    /// Called after each check (progress reports).
    public var onCheck: ((Check) -> Void)?
    /// Asked after every step: true cancels the run, which then throws `CancellationError`.
    public var shouldStop: (() -> Bool)?
    public private(set) var checks: [Check] = []
    public private(set) var best: Check?
    public private(set) var stoppedOnPlateau = false
    /// The cool-down after the plateau: from the step after `start` to `end`, the rate falls linearly to zero.
    private(set) var cooldown: (start: Int, end: Int)?
    private var bestState: [Tensor] = []
    private var sinceBest = 0

    public init(task: String, items: [LabeledItem], settings: Settings = Settings()) {
        self.task = task
        self.items = Array(items.prefix(settings.maxItems))
        self.settings = settings
    }

    /// The fewest steps between checks when `every` is not given.
    static let minimumInterval = 25

    /// Steps between checks for a run of `stepsPerEpoch` steps per epoch.
    func interval(stepsPerEpoch: Int) -> Int { max(1, settings.every ?? max(stepsPerEpoch, Self.minimumInterval)) }

    /// After optimiser step `step` (1-based) of `total`: measures when a check is due (and always after the last
    /// step), keeps `tensors` if it is the best yet, and returns whether training should go on.
    /// `snapshot` builds the model as trained so far, answering as `task`.
    func afterStep(_ step: Int, of total: Int, stepsPerEpoch: Int, tensors: [Tensor], snapshot: () -> Snapshot) throws -> Bool {
        guard !items.isEmpty, step % interval(stepsPerEpoch: stepsPerEpoch) == 0 || step == total else { return true }
        let report = try Evaluation.evaluate(snapshot: snapshot(), items: items, routing: .task(task), shouldStop: shouldStop)
        return record(Check(step: step, correct: report.correct, items: report.items), tensors: tensors,
                      interval: interval(stepsPerEpoch: stepsPerEpoch))
    }

    /// The factor on the learning rate of 0-based step `step`: 1, but during the cool-down falling linearly
    /// from 1 (its first step) to 1 / length (its last).
    func rateFactor(step: Int) -> Float {
        guard let cooldown, step >= cooldown.start else { return 1 }
        return Float(max(cooldown.end - step, 0)) / Float(cooldown.end - cooldown.start)
    }

    /// Records a measurement made every `interval` steps: keeps `tensors` when it is a new best, at the plateau
    /// puts the best state back into them and starts the cool-down, and returns whether training should go on.
    func record(_ check: Check, tensors: [Tensor], interval: Int) -> Bool {
        checks.append(check)
        if best.map({ check.correct > $0.correct }) ?? true {
            best = check
            sinceBest = 0
            if bestState.isEmpty { bestState = tensors.map { $0.copy() } } else { for (saved, tensor) in zip(bestState, tensors) { saved.copy(from: tensor) } }
        } else {
            sinceBest += 1
        }
        onCheck?(check)
        if check.correct == check.items { return false }  // nothing left to learn on these items
        if let cooldown {
            if check.step < cooldown.end { return true }
            stoppedOnPlateau = true
            return false
        }
        if checks.count >= settings.minimumChecks, sinceBest >= settings.patience {
            guard settings.cooldownChecks > 0 else {
                stoppedOnPlateau = true
                return false
            }
            restoreBest(into: tensors)
            cooldown = (check.step, check.step + settings.cooldownChecks * interval)
        }
        return true
    }

    /// Puts the best state back into `tensors` (the same tensors, in the same order, as the checks saw).
    func restoreBest(into tensors: [Tensor]) {
        guard !bestState.isEmpty, best?.step != checks.last?.step else { return }
        for (tensor, saved) in zip(tensors, bestState) { tensor.copy(from: saved) }
    }
}

extension TrainingWatch {
    /// Hooks the watch into `trainer`: checks after its steps over the tensors it trains, `probe` giving the
    /// model as trained so far. Call `finish` after the run.
    func attach(to trainer: Trainer, examples: Int, probe: @escaping () -> Snapshot) -> Attachment {
        let attachment = Attachment(tensors: trainer.gradients.parameters.map(\.value))
        let stepsPerEpoch = max(1, (examples + trainer.settings.batchSize - 1) / trainer.settings.batchSize)
        let total = trainer.settings.steps
        trainer.rateFactor = { [self] step in rateFactor(step: step) }
        trainer.shouldContinue = { [self] step in
            if shouldStop?() == true {
                attachment.error = CancellationError()
                return false
            }
            do {
                return try afterStep(step, of: total, stepsPerEpoch: stepsPerEpoch, tensors: attachment.tensors, snapshot: probe)
            } catch {
                attachment.error = error
                return false
            }
        }
        return attachment
    }

    final class Attachment {
        let tensors: [Tensor]
        var error: Error?
        init(tensors: [Tensor]) { self.tensors = tensors }
    }

    /// After the run: rethrows a check's error, then puts the best state back.
    func finish(_ attachment: Attachment) throws {
        if let error = attachment.error { throw error }
        restoreBest(into: attachment.tensors)
    }

    /// A snapshot for checks: never merged (the weights change every step) and never in the serving cache.
    static let probeWeights = MergedWeights(budgetBytes: 0)
}
