import ArgumentParser
import Continual
import Foundation
import LLaVA
import ShapesWorld

/// How well the task selector alone routes: base families and the continual tasks, keys as tuning first sets
/// them (before any alignment steps), without training anything.
struct BenchSelector: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selector",
        abstract: "Route held-out base-family and continual-task questions with the task selector; print where each went.")

    @Option(help: "Tasks of the continual sequence (at most \(ShapesWorld.continualSequence.count)).")
    var tasks = ShapesWorld.continualSequence.count

    @Option(help: "World seed of the task items (docs/BENCHMARK.md).")
    var seed: UInt64 = ContinualBenchmark.defaultSeed

    @Option(help: "Model directory. Default: models/default.")
    var model: String?

    @Option(help: "Training items per task (the selector's keys come from them).")
    var trainItems = 400

    @Option(help: "Held-out items per task and per base family.")
    var evalItems = 100

    func run() throws {
        let directory = try DefaultModel.resolve(model)
        let pipeline = try LlavaPipeline.load(from: directory)
        let world = ShapesWorld(seed: seed)
        let sequence = BenchContinual.sequence(world: world, tasks: tasks, trainItems: trainItems, evalItems: evalItems)
        let baseFamilies = BenchContinual.baseFamilies(world: world, items: evalItems)
        let bar = ProgressBar("features")
        let total = sequence.count * (trainItems + evalItems) + baseFamilies.count * evalItems
        var done = 0
        func prepare(_ items: [LabeledItem]) throws -> [PreparedExample] {
            let prepared = try AdapterTuning.prepare(items, base: pipeline)
            done += items.count
            bar.update(done, total, detail: "")
            return prepared
        }
        let train = try sequence.map { try prepare($0.train) }
        let heldOut = try sequence.map { try prepare($0.heldOut) }
        let base = try baseFamilies.map { try prepare($0.items) }
        bar.update(total, total, detail: "done", force: true)

        // As tuning builds it: the base model's shipped keys, then each task's prototypes from its training items.
        let selector = TaskSelector.startingWithBase(pipeline: pipeline, baseImages: [], baseTexts: [])
        for (task, examples) in zip(sequence, train) {
            selector.addTask(name: task.name, images: examples.map(\.imageFeature), texts: examples.map(\.textFeature),
                             prototypes: TaskSelector.prototypesPerTask)
        }
        let columns = selector.names
        print("\nrouted to (% of each row's held-out items)")
        print("| questions of | " + columns.joined(separator: " | ") + " |")
        print("|---|" + String(repeating: "---:|", count: columns.count))
        var baseRight = 0, baseTotal = 0, taskRight = 0, taskTotal = 0
        func row(_ name: String, _ examples: [PreparedExample], expected: Int) -> Int {
            var counts = [Int](repeating: 0, count: columns.count)
            for example in examples { counts[selector.select(image: example.imageFeature, text: example.textFeature)!.task] += 1 }
            print("| \(name) | " + counts.map { String(format: "%.0f", 100 * Double($0) / Double(examples.count)) }.joined(separator: " | ") + " |")
            return counts[expected]
        }
        for (family, examples) in zip(baseFamilies, base) {
            baseRight += row(family.name, examples, expected: 0)
            baseTotal += examples.count
        }
        for (index, (task, examples)) in zip(sequence, heldOut).enumerated() {
            taskRight += row(task.name, examples, expected: index + 1)
            taskTotal += examples.count
        }
        print(String(format: "\nbase routed to base %.1f%%   tasks routed to their own task %.1f%%",
                     100 * Double(baseRight) / Double(baseTotal), 100 * Double(taskRight) / Double(taskTotal)))
    }
}
