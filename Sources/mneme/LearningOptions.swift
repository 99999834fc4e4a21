import ArgumentParser
import Continual
import LLaVA

/// How a task is learned (`TaskLearning.Settings`), the same options for `serve`, `tune` and `bench continual`;
/// the defaults are the server's.
struct LearningOptions: ParsableArguments {
    @Option(name: .customLong("max-epochs"), help: "Budget: at most this many passes over a task's training items; training stops earlier when held-out accuracy stops rising.")
    var maxEpochs = TaskLearning.Settings().maxEpochs

    @Option(help: "Peak learning rate.")
    var lr = TaskLearning.Settings().learningRate

    @Option(help: "Batch size.")
    var batch = TaskLearning.Settings().batchSize

    @Option(help: "Adapter rank.")
    var rank = TaskLearning.Settings().adapter.rank

    @Option(name: .customLong("own-rank"), help: "BranchLoRA: rank of the pair each task owns beside the shared trunk (0: none).")
    var ownRank = TaskLearning.Settings().adapter.ownRank

    @Option(help: "Adapter alpha (scale = alpha / rank). Default: twice the rank.")
    var alpha: Float?

    @Option(help: "Projections that get adapters, comma-separated.")
    var targets = TaskLearning.Settings().adapter.targets.joined(separator: ",")

    @Option(help: "Held-out checks in a row without a new best before training stops.")
    var patience = TaskLearning.Settings().watch.patience

    @Option(help: "Check intervals of cool-down after the plateau: training goes back to its best state and runs on with the learning rate falling linearly to zero; 0 stops at the plateau.")
    var cooldown = TaskLearning.Settings().watch.cooldownChecks

    @Option(help: "Optimiser steps between held-out checks. Default: one epoch.")
    var checkEvery: Int?

    @Option(help: "Promote a new snapshot only if no earlier task loses more than this many accuracy points.")
    var gatePoints = TaskLearning.Settings().regressionGatePoints

    func validate() throws {
        guard maxEpochs >= 1, batch >= 1, rank >= 1, patience >= 1, lr > 0 else {
            throw ValidationError("--max-epochs, --batch, --rank and --patience must be at least 1, --lr above 0")
        }
        if ownRank < 0 { throw ValidationError("--own-rank must be 0 or more") }
        if let checkEvery, checkEvery < 1 { throw ValidationError("--check-every must be at least 1") }
        if cooldown < 0 { throw ValidationError("--cooldown must be 0 or more") }
    }

    var settings: TaskLearning.Settings {
        var settings = TaskLearning.Settings()
        settings.maxEpochs = maxEpochs
        settings.learningRate = lr
        settings.batchSize = batch
        settings.adapter.rank = rank
        settings.adapter.alpha = alpha ?? Float(2 * rank)
        settings.adapter.ownRank = ownRank
        settings.adapter.targets = targets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        settings.watch.patience = patience
        settings.watch.every = checkEvery
        settings.watch.cooldownChecks = cooldown
        settings.regressionGatePoints = gatePoints
        return settings
    }
}
