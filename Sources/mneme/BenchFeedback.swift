import ArgumentParser
import Continual
import Foundation
import LLaVA
import ShapesWorld

/// How many corrections a task needs: per continual task, the default model tuned with the server's defaults
/// (`TaskLearning`, the default strategy) on the first k items as if users had corrected k answers, for growing
/// k, each measured on the task's held-out items. The gain from before to the largest k is what the task can
/// learn from this much data; the table says how many corrections bring 90% of it.
struct BenchFeedback: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feedback",
        abstract: "Corrections a task needs: held-out accuracy after tuning on k corrected items, for growing k.")

    @Option(help: "Comma-separated tasks of the continual sequence.")
    var tasks = "colour-at,minus,odd-shape"

    @Option(help: "Numbers of corrections, comma-separated, ascending (a tenth of each set aside for training to watch).")
    var corrections = "25,50,100,200,400,800"

    @Option(help: "Held-out items per task.")
    var evalItems = ContinualBenchmark.evalCount

    @Option(help: "World seed of the items (docs/BENCHMARK.md).")
    var seed: UInt64 = ContinualBenchmark.defaultSeed

    @Option(help: "Model directory. Default: models/default.")
    var model: String?

    @Option(help: "Strategy the corrections are tuned with (the server's default).")
    var strategy = "branchlora"

    @Option(help: "Write the results to this JSON file (rewritten after every task).")
    var json: String?

    struct Row: Codable {
        var task: String
        var before: Double
        /// Held-out accuracy after tuning on k corrections, by k.
        var after: [Int: Double] = [:]
        var seconds: [Int: Double] = [:]
        /// The fewest corrections that bring 90% of the gain the largest k brings.
        var needed: Int?
    }

    func run() throws {
        let families = try ContinualBench.tasks(tasks)
        let sizes = try corrections.split(separator: ",").map { text -> Int in
            guard let size = Int(text.trimmingCharacters(in: .whitespaces)), size >= 2 else {
                throw ValidationError("--corrections takes numbers of at least 2, comma-separated")
            }
            return size
        }.sorted()
        let learner = try Strategies.named(strategy)
        let base = try Snapshot.load(from: try DefaultModel.resolve(model))
        let world = ShapesWorld(seed: seed)
        print("| task | before | " + sizes.map { "\($0) corrections" }.joined(separator: " | ") + " | corrections for 90% of the gain |")
        print("|---|---:|" + String(repeating: "---:|", count: sizes.count + 1))
        var rows: [Row] = []
        for family in families {
            let all = world.generate(family: family, count: sizes.last!, start: 0).map { Pretrain.item($0) }
            let heldOut = world.generate(family: family, count: evalItems, start: ShapesWorld.heldOutStart).map { Pretrain.item($0) }
            var row = Row(task: family.rawValue, before: try Evaluation.evaluate(snapshot: base, items: heldOut, routing: .automatic(expected: nil)).accuracy)
            let bar = ProgressBar(family.rawValue)
            for size in sizes {
                let started = Date()
                let (train, watched) = ContinualSequence.setAside(Array(all.prefix(size)), fraction: 0.1, seed: 0)
                let examples = try AdapterTuning.prepare(train, base: base.base)
                let outcome = try TaskLearning(settings: TaskLearning.Settings()).learn(
                    learner, parent: base, task: .init(name: family.rawValue, examples: examples, heldOut: heldOut, watched: watched),
                    earlier: [], index: 0, progress: { event in
                        if case let .training(p) = event { bar.update(p.step, p.total, detail: "\(size) corrections  loss \(String(format: "%.3f", p.loss))") }
                    })
                row.after[size] = outcome.after.accuracy
                row.seconds[size] = Date().timeIntervalSince(started)
            }
            let target = row.before + 0.9 * ((row.after[sizes.last!] ?? row.before) - row.before)
            row.needed = sizes.first { (row.after[$0] ?? 0) >= target }
            rows.append(row)
            print("| \(row.task) | \(Self.percent(row.before)) | " + sizes.map { Self.percent(row.after[$0] ?? 0) }.joined(separator: " | ")
                  + " | \(row.needed.map(String.init) ?? "–") |")
            if let json { try ContinualBench.write(rows, to: json) }
        }
    }

    static func percent(_ value: Double) -> String { String(format: "%.1f", value * 100) }
}
