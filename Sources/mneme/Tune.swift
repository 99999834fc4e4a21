import ArgumentParser
import Continual
import Datasets
import Foundation
import LLaVA

struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Learn a task with adapters and write a new snapshot.")

    @Option(help: "Base model directory or snapshot. Default: models/default.")
    var model: String?

    @Option(help: "Name of the task being learned.")
    var task: String

    @Option(help: "Dataset folder (data.jsonl or a LLaVA conversation file).")
    var data: String

    @Option(help: "Output snapshot directory.")
    var out: String

    @Option(help: "Strategy: seq-lora (alias lora), joint, replay, moe-lora, branchlora, llaca-ema, llava-c, fwd-prompt, msgm-replay.")
    var strategy: String = "branchlora"

    @OptionGroup(title: "Learning (the server's defaults)")
    var learning: LearningOptions

    @Option(help: "Share of the items held out: training watches them to stop at its plateau, and before → after is measured on them (as the server does with a push).")
    var evalFraction = 0.1

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Option(help: "Base-family dataset that gives the base model (task 0) its selector keys on a first tuning.")
    var baseData: String?

    func run() throws {
        let chosen: any ContinualStrategy
        do { chosen = try Strategies.named(strategy) } catch { throw ValidationError("\(error)") }
        let modelURL = try DefaultModel.resolve(model)
        let snapshot = try Snapshot.load(from: modelURL)
        let items = try DatasetLoading.items(at: data)
        guard (0 ..< 1).contains(evalFraction) else { throw ValidationError("--eval-fraction must be at least 0 and below 1") }
        let split = Dataset.split(count: items.count, evalFraction: evalFraction, minimumEval: 50, seed: seed)
        let prepareBar = ProgressBar("preparing")
        let examples = try AdapterTuning.prepare(split.train.map { items[$0] }, base: snapshot.base) { prepareBar.update($0, $1) }
        let baseExamples = try baseData.map { try AdapterTuning.prepare(DatasetLoading.items(at: $0), base: snapshot.base) } ?? []
        var settings = learning.settings
        settings.seed = seed
        let bar = ProgressBar("tuning \(task)")
        var watched = ""
        // A standalone tune has no store of earlier tasks' items: replay-style strategies rehearse nothing here.
        let outcome = try TaskLearning(settings: settings).learn(
            chosen, parent: snapshot, task: TaskLearning.Task(name: task, examples: examples, heldOut: split.eval.map { items[$0] }),
            earlier: [], index: snapshot.tasks.count - 1, baseExamples: baseExamples, progress: { event in
            switch event {
            case let .training(p):
                bar.update(p.step, p.total, detail: String(format: "loss %.4f  %.1f items/s%@", p.loss, p.itemsPerSecond, watched))
            case let .checked(check):
                watched = String(format: "  held-out %d/%d", check.correct, check.items)
            case let .evaluating(label):
                bar.update(1, 1, detail: "evaluating \(label)", force: true)
            }
        })
        let tuned = outcome.snapshot, report = outcome.report
        let outURL = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        let basePath = (snapshot.manifest.map { $0.base.hasPrefix("/") ? $0.base : modelURL.appendingPathComponent($0.base).standardizedFileURL.path })
            ?? modelURL.standardizedFileURL.path
        try tuned.save(to: outURL, manifest: SnapshotManifest(base: basePath, strategy: chosen.name))
        print(String(format: "wrote %@ in %.1f s (%.1f items/s, final loss %.4f)", out, report.seconds, report.itemsPerSecond, report.finalLoss))
        print(outcome.summary)
    }
}
