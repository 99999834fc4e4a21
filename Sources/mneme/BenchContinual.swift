import ArgumentParser
import Continual
import Foundation
import LLaVA
import ShapesWorld

struct BenchContinual: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "continual",
        abstract: "Take each strategy through the continual ShapesWorld sequence from the default model; print accuracy matrices and a summary.")

    @Option(help: "Comma-separated strategies (default: all).")
    var strategies: String = Strategies.names.joined(separator: ",")

    @Option(help: "Tasks of the continual sequence to run, in order (at most \(ShapesWorld.continualSequence.count)).")
    var tasks = ShapesWorld.continualSequence.count

    @Option(help: "World seed of the task items (docs/BENCHMARK.md).")
    var seed: UInt64 = ContinualBenchmark.defaultSeed

    @Option(help: "Model directory. Default: models/default.")
    var model: String?

    @Option(help: "Training items per task.")
    var trainItems = ContinualBenchmark.trainCount

    @Option(help: "Held-out items per task.")
    var evalItems = ContinualBenchmark.evalCount

    @Option(help: "Held-out items per base family (retention).")
    var baseItems = 50

    @OptionGroup(title: "Learning (the server's defaults)")
    var learning: LearningOptions

    @Option(help: "Share of each task's training items set aside for training to watch (its plateau and best state); the held-out items are never seen.")
    var watchFraction = 0.1

    @Option(help: "Seed of the tuning runs (batch order, adapter initialisation, the training items set aside to watch): the spread of a result over seeds, from the same items.")
    var tuningSeed: UInt64 = 0

    @Option(help: "Write every result (matrices, metrics, timings) to this JSON file.")
    var json: String?

    func run() throws {
        let names = strategies.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let chosen = try names.map { try Strategies.named($0) }
        guard (1 ... ShapesWorld.continualSequence.count).contains(tasks) else {
            throw ValidationError("--tasks must be 1–\(ShapesWorld.continualSequence.count)")
        }
        let directory = try DefaultModel.resolve(model)
        let base = try Snapshot.load(from: directory)
        let world = ShapesWorld(seed: seed)
        let sequence = Self.sequence(world: world, tasks: tasks, trainItems: trainItems, evalItems: evalItems)
        let baseFamilies = Self.baseFamilies(world: world, items: baseItems)
        FileHandle.standardError.write(Data("evaluating the base model on \(baseFamilies.count) base families\n".utf8))
        let baseBefore = try ContinualSequence.baseAccuracy(of: base, families: baseFamilies)

        var results: [ContinualSequence.Result] = []
        for strategy in chosen {
            var settings = learning.settings
            settings.seed = tuningSeed
            let runner = ContinualSequence(settings: .init(learning: settings, watchFraction: watchFraction))
            let bar = ProgressBar(strategy.name)
            let result = try runner.run(strategy, base: base, tasks: sequence, baseFamilies: baseFamilies, baseBefore: baseBefore) { event in
                switch event {
                case let .tuning(task, count, progress):
                    bar.update(task * progress.total + progress.step, count * progress.total,
                               detail: String(format: "task %d/%d %@  loss %.4f  %.0f items/s", task + 1, count, sequence[task].name,
                                              progress.loss, progress.itemsPerSecond))
                case let .checked(task, count, check):
                    bar.update(task * 100 + 50, count * 100, detail: String(format: "task %d/%d %@  watched %d/%d after %d steps", task + 1, count,
                                                                            sequence[task].name, check.correct, check.items, check.step), force: true)
                case let .evaluating(task, count, label):
                    bar.update(task * 100 + 99, count * 100, detail: "evaluating \(label)", force: true)
                }
            }
            bar.update(1, 1, detail: "done", force: true)
            Self.printMatrix(result)
            results.append(result)
            if let json { try Self.write(results, baseBefore: baseBefore, command: CommandLine.arguments.joined(separator: " "), to: json) }
        }
        Self.printSummary(results)
    }

    /// The first `tasks` tasks of the continual sequence: training items from index 0, held-out items from 2⁴⁰.
    static func sequence(world: ShapesWorld, tasks: Int, trainItems: Int, evalItems: Int) -> [ContinualSequence.Task] {
        ShapesWorld.continualSequence.prefix(tasks).map { family in
            ContinualSequence.Task(name: family.rawValue, train: world.generate(family: family, count: trainItems, start: 0).map { Pretrain.item($0) },
                                   heldOut: world.generate(family: family, count: evalItems, start: ShapesWorld.heldOutStart).map { Pretrain.item($0) })
        }
    }

    /// Held-out items of every base family (retention).
    static func baseFamilies(world: ShapesWorld, items: Int) -> [(name: String, items: [LabeledItem])] {
        ShapesWorld.baseFamilies.map {
            (name: $0.rawValue, items: world.generate(family: $0, count: items, start: ShapesWorld.heldOutStart).map { Pretrain.item($0) })
        }
    }

    static func printMatrix(_ result: ContinualSequence.Result) {
        print("\n\(result.strategy): accuracy (%) on each task (columns) after learning each task (rows)")
        print("after \\ on     " + result.tasks.map { String($0.prefix(7)).padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
        for (row, step) in result.steps.enumerated() {
            let cells = result.tasks.indices.map { column in
                column <= row ? String(format: "%6.1f  ", step.accuracy[column] * 100) : "     .  "
            }
            print(String(step.task.prefix(13)).padding(toLength: 15, withPad: " ", startingAt: 0) + cells.joined())
        }
        print("\n\(result.strategy): each task before and right after its own tuning (held-out items, routed automatically)")
        print("| task | before % | after % | n | steps | stopped on plateau | verdict |")
        print("|---|---:|---:|---:|---:|---|---|")
        for step in result.steps {
            guard let before = step.before, let after = step.after else { continue }
            print(String(format: "| %@ | %.1f | %.1f | %d | %d | %@ | %@ |", step.task, before.accuracy * 100, after.accuracy * 100, after.items,
                         step.steps ?? 0, step.stoppedOnPlateau == true ? "yes" : "no", step.verdict?.rawValue ?? "–"))
        }
    }

    static func printSummary(_ results: [ContinualSequence.Result]) {
        print("\n| strategy | final avg % | MAA % | BWT pts | forgetting pts | base retention % | base routed to base % | selector % | tuning s/task | trainable params |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for result in results {
            let selector = result.finalSelectorAccuracy.map { String(format: "%.1f", $0 * 100) } ?? "–"
            let routing = result.baseRouting.map { String(format: "%.1f", $0 * 100) } ?? "–"
            print(String(format: "| %@ | %.1f | %.1f | %+.1f | %.1f | %.1f | %@ | %@ | %.1f | %d |", result.strategy,
                         result.metrics.finalAverage * 100, result.metrics.meanAverageAccuracy * 100, result.metrics.backwardTransfer * 100,
                         result.metrics.forgetting * 100, result.baseRetention * 100, routing, selector, result.meanTuningSeconds,
                         result.steps.last?.trainableParameters ?? 0))
        }
    }

    static func write(_ results: [ContinualSequence.Result], baseBefore: [String: Double], command: String, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        struct Report: Encodable {
            var command: String
            var baseAccuracy: [String: Double]
            var results: [ContinualSequence.Result]
        }
        try encoder.encode(Report(command: command, baseAccuracy: baseBefore, results: results))
            .write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
