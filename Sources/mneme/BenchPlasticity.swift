import ArgumentParser
import Continual
import Foundation
import LLaVA
import ShapesWorld

/// What the data allows: per continual task, the best held-out accuracy reachable by (a) an adapter tuned to
/// its plateau on N items, over a small search; (b) full fine-tuning of every weight on the same N items;
/// (c) full fine-tuning on fresh items for as long as it keeps improving. (c) low means the base model lacks
/// the skill; (b) ≫ (a) means the adapter lacks capacity; (c) ≫ (b) means N items are too few.
struct BenchPlasticity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plasticity",
        abstract: "Upper bounds per continual task: adapter search, full fine-tuning on the same items, full fine-tuning on fresh items.")

    @Option(help: "Comma-separated tasks of the continual sequence (default: all).")
    var tasks = ShapesWorld.continualSequence.map(\.rawValue).joined(separator: ",")

    @Option(help: "Training items per task (a tenth of them set aside for training to watch).")
    var items = ContinualBenchmark.trainCount

    @Option(help: "Held-out items per task (never seen by training or its stopping rule).")
    var evalItems = ContinualBenchmark.evalCount

    @Option(help: "World seed of the items (docs/BENCHMARK.md).")
    var seed: UInt64 = ContinualBenchmark.defaultSeed

    @Option(help: "Model directory. Default: models/default.")
    var model: String?

    @Option(help: "Adapter configurations searched for (a), as rank:targets:lr separated by spaces; targets 'all' (every projection, the server's), 'attn-mlp' (q, v and the MLP) or a comma list. The first is the server's default.")
    var search = "32:all:0.0005 32:all:0.001 8:attn-mlp:0.002"

    @Option(help: "Budget of (a) and (b): at most this many epochs over the items.")
    var maxEpochs = 40

    @Option(help: "Peak learning rate of full fine-tuning, (b) and (c).")
    var fullLr: Float = 3e-4

    @Option(help: "Budget of (c): at most this many steps of fresh items (batch 16).")
    var freshSteps = 4000

    @Option(help: "Checks without a gain before (b) stops (a check every epoch).")
    var patience = 4

    // A bound must not stop on a passing plateau: with 4 checks (c) stopped count-shape at 73% after 1,200 steps;
    // with 10 and a 4,000-step budget it reached 95.5% after 3,300 (docs/RESULTS.md).
    @Option(help: "Checks without a gain before (c) stops (a check every 100 steps).")
    var freshPatience = 10

    @Option(help: "Check intervals of cool-down (rate falling to zero from the best state) after the plateau of (b) and (c), as the tuner's --cooldown; 0 stops at the plateau.")
    var cooldown = TrainingWatch.Settings().cooldownChecks

    @Option(help: "Run (c) only where the best of (a) and (b) is below this accuracy: above it the data is already enough and the skill there.")
    var freshBelow = 0.95

    @Option(help: "Parts to run: any of a, b, c.")
    var parts = "a,b,c"

    @Option(help: "Write the results to this JSON file (rewritten after every task).")
    var json: String?

    struct Row: Codable {
        var task: String
        var before: Double
        var adapter: [String: Double] = [:]
        var adapterSteps: [String: Int] = [:]
        var bestAdapter: String?
        var full: Double?
        var fullSteps: Int?
        var fresh: Double?
        var freshSteps: Int?
        /// Held-out answers of (b) and (c) by expected answer: expected → given → items (what a wrong answer is).
        var fullAnswers: [String: [String: Int]]?
        var freshAnswers: [String: [String: Int]]?
        var seconds: [String: Double] = [:]
    }

    func run() throws {
        let families = try ContinualBench.tasks(tasks)
        let configurations = try search.split(separator: " ").map { try Self.configuration(String($0)) }
        let run = Set(parts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let directory = try DefaultModel.resolve(model)
        let base = try Snapshot.load(from: directory)
        let world = ShapesWorld(seed: seed)
        var rows: [Row] = []
        print("| task | before | " + configurations.map(\.label).joined(separator: " | ") + " | (a) best adapter | (b) full, same items | (c) full, fresh items |")
        print("|---|---:|" + String(repeating: "---:|", count: configurations.count + 3))
        for family in families {
            let all = world.generate(family: family, count: items, start: 0).map { Pretrain.item($0) }
            let heldOut = world.generate(family: family, count: evalItems, start: ShapesWorld.heldOutStart).map { Pretrain.item($0) }
            let (train, watched) = ContinualSequence.setAside(all, fraction: 0.1, seed: 0)
            var row = Row(task: family.rawValue, before: try Evaluation.evaluate(snapshot: base, items: heldOut, routing: .automatic(expected: nil)).accuracy)
            let bar = ProgressBar(family.rawValue)

            if run.contains("a") {
                let examples = try AdapterTuning.prepare(train, base: base.base)
                for configuration in configurations {
                    let started = Date()
                    var settings = TaskLearning.Settings(adapter: configuration.adapter, learningRate: configuration.lr, maxEpochs: maxEpochs)
                    settings.seed = 0
                    let outcome = try TaskLearning(settings: settings).learn(
                        SequentialLoRA(), parent: base, task: .init(name: family.rawValue, examples: examples, heldOut: heldOut, watched: watched),
                        earlier: [], index: 0, progress: { event in
                        if case let .training(p) = event {
                            bar.update(p.step, p.total, detail: "(a) \(configuration.label)  loss \(String(format: "%.3f", p.loss))")
                        }
                    })
                    row.adapter[configuration.label] = outcome.after.accuracy
                    row.adapterSteps[configuration.label] = outcome.report.steps
                    row.seconds["a " + configuration.label] = Date().timeIntervalSince(started)
                }
                row.bestAdapter = row.adapter.max { $0.value < $1.value }?.key
            }
            if run.contains("b") {
                let started = Date()
                var sampler = BatchSampler(count: train.count, seed: 1)
                let steps = maxEpochs * (train.count + 15) / 16
                let (report, done) = try Self.fullFineTune(directory: directory, steps: steps, lr: fullLr, every: (train.count + 15) / 16, patience: patience, cooldown: cooldown,
                                                           watched: watched, heldOut: heldOut, bar: bar, label: "(b)") { _, count in
                    sampler.next(count).map { train[$0] }
                }
                row.full = report.accuracy
                row.fullSteps = done
                row.fullAnswers = Self.answers(report)
                row.seconds["b"] = Date().timeIntervalSince(started)
            }
            let reached = max(row.adapter.values.max() ?? 0, row.full ?? 0)
            if run.contains("c"), reached < freshBelow {
                let started = Date()
                let (report, done) = try Self.fullFineTune(directory: directory, steps: freshSteps, lr: fullLr, every: 100, patience: freshPatience, cooldown: cooldown,
                                                           watched: watched, heldOut: heldOut, bar: bar, label: "(c)") { step, count in
                    // Fresh items after the N training items; the held-out range starts at 2⁴⁰.
                    world.generate(family: family, count: count, start: items + step * count).map { Pretrain.item($0) }
                }
                row.fresh = report.accuracy
                row.freshSteps = done
                row.freshAnswers = Self.answers(report)
                row.seconds["c"] = Date().timeIntervalSince(started)
            }
            bar.update(1, 1, detail: "done", force: true)
            rows.append(row)
            func cell(_ value: Double?) -> String { value.map { String(format: "%.1f", $0 * 100) } ?? "–" }
            let best = row.bestAdapter.map { "\(cell(row.adapter[$0])) (\($0))" } ?? "–"
            print("| \(row.task) | \(cell(row.before)) | " + configurations.map { cell(row.adapter[$0.label]) }.joined(separator: " | ")
                  + " | \(best) | \(cell(row.full)) | \(cell(row.fresh)) |")
            if let json { try ContinualBench.write(rows, to: json) }
        }
    }

    struct Configuration {
        var label: String
        var adapter: AdapterSet.Settings
        var lr: Float
    }

    static func configuration(_ text: String) throws -> Configuration {
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count == 3, let rank = Int(parts[0]), let lr = Float(parts[2]) else {
            throw ValidationError("--search entries are rank:targets:lr, got \(text)")
        }
        var adapter = AdapterSet.Settings(kind: .lora)
        adapter.rank = rank
        adapter.alpha = Float(2 * rank)
        switch parts[1] {
        case "attn-mlp": adapter.targets = ["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"]
        case "all": adapter.targets = Llama.DecoderLayer.projectionNames
        default: adapter.targets = parts[1].split(separator: ",").map(String.init)
        }
        if let problem = adapter.problem { throw ValidationError("--search \(text): \(problem)") }
        return Configuration(label: "r\(rank) \(parts[1]) lr \(parts[2])", adapter: adapter, lr: lr)
    }

    /// expected answer → given answer → held-out items.
    static func answers(_ report: Evaluation.Report) -> [String: [String: Int]] {
        report.predictions.reduce(into: [:]) { $0[$1.expected, default: [:]][$1.answer, default: 0] += 1 }
    }

    /// Every weight trained from a fresh copy of the model, watched on `watched` until its plateau, measured on
    /// `heldOut` at its best state: (the held-out report, steps run).
    static func fullFineTune(directory: URL, steps: Int, lr: Float, every: Int, patience: Int, cooldown: Int, watched: [LabeledItem], heldOut: [LabeledItem],
                             bar: ProgressBar, label: String, draw: (Int, Int) -> [LabeledItem]) throws -> (Evaluation.Report, Int) {
        let pipeline = try LlavaPipeline.load(from: directory)
        let training = TrainingSettings(steps: steps, batchSize: 16, learningRate: lr, warmupSteps: min(50, steps / 10), weightDecay: 0, seed: 2)
        let watch = TrainingWatch(task: "base", items: watched, settings: .init(every: every, patience: patience, minimumChecks: 3,
                                                                                    cooldownChecks: cooldown))
        let (report, _) = try Pretraining(training: training).run(pipeline: pipeline, draw: draw, heldOut: [:], watch: watch, progress: { p in
            bar.update(p.step, p.total, detail: "\(label) full fine-tuning  loss \(String(format: "%.3f", p.loss))")
        })
        let snapshot = Snapshot(base: pipeline, adapters: nil, selector: nil, tasks: ["base"])
        return (try Evaluation.evaluate(snapshot: snapshot, items: heldOut, routing: .task("base")), report.steps)
    }
}
