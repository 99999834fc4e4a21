import ArgumentParser
import Continual
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

    @Option(help: "Epochs over the data (ignored when --steps is given).")
    var epochs: Int = 3

    @Option(help: "Optimiser steps.")
    var steps: Int?

    @Option(help: "Peak learning rate.")
    var lr: Float = 2e-3

    @Option(help: "Batch size.")
    var batch: Int = 16

    @Option(help: "Adapter rank.")
    var rank: Int = 8

    @Option(help: "Adapter alpha (scale = alpha / rank).")
    var alpha: Float = 16

    @Option(help: "Projections that get adapters, comma-separated.")
    var targets: String = "q_proj,v_proj,gate_proj,up_proj,down_proj"

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
        let prepareBar = ProgressBar("preparing")
        let examples = try AdapterTuning.prepare(items, base: snapshot.base) { prepareBar.update($0, $1) }
        let baseExamples = try baseData.map { try AdapterTuning.prepare(DatasetLoading.items(at: $0), base: snapshot.base) } ?? []
        let totalSteps = steps ?? max(1, epochs * (items.count + batch - 1) / batch)
        let settings = AdapterSet.Settings(kind: chosen.adapterKind, targets: targets.split(separator: ",").map(String.init), rank: rank, alpha: alpha)
        let training = TrainingSettings(steps: totalSteps, batchSize: batch, learningRate: lr, warmupSteps: min(50, totalSteps / 10), seed: seed)
        let bar = ProgressBar("tuning \(task)")
        // A standalone tune has no store of earlier tasks' items: replay-style strategies rehearse nothing here.
        let (tuned, report) = try Strategies.learn(chosen, snapshot: snapshot, task: ContinualTask(name: task, examples: examples), earlier: [],
                                                   adapterSettings: settings, training: training, baseExamples: baseExamples) { p in
            bar.update(p.step, p.total, detail: String(format: "loss %.4f  %.1f items/s  ETA %@", p.loss, p.itemsPerSecond,
                                                       ProgressBar.duration(p.etaSeconds)))
        }
        let outURL = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        let basePath = (snapshot.manifest.map { $0.base.hasPrefix("/") ? $0.base : modelURL.appendingPathComponent($0.base).standardizedFileURL.path })
            ?? modelURL.standardizedFileURL.path
        try tuned.save(to: outURL, manifest: SnapshotManifest(base: basePath, strategy: chosen.name, tasks: tuned.tasks,
                                                              parent: snapshot.manifest == nil ? nil : modelURL.lastPathComponent))
        print(String(format: "wrote %@: task %@ learned in %d steps, %.1f s, %.1f items/s, final loss %.4f",
                     out, task, report.steps, report.seconds, report.itemsPerSecond, report.finalLoss))
    }
}
