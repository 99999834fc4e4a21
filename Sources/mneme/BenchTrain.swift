import ArgumentParser
import Continual
import Foundation
import Imaging
import LLaVA
import Tensor

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time LoRA tuning steps (frozen base, cached image features) and compare with PyTorch + PEFT.")

    @Option(help: "Model directory. Default: models/default.")
    var model: String?

    @Option(help: "Batch size.")
    var batch = 16

    @Option(help: "Timed steps (after 3 warm-up steps).")
    var steps = 20

    @Option(help: "LoRA rank (alpha = 2 × rank), on q_proj and v_proj as PEFT's default for Llama.")
    var rank = 8

    @Flag(help: "Full training of every weight (vision tower, projector, decoder) from pixels, as pretraining does.")
    var full = false

    @Option(help: "Python with the pinned reference libraries: also run scripts/bench_torch_train.py on the same model and data.")
    var torchPython: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let directory = try DefaultModel.resolve(model)
        let pipeline = try LlavaPipeline.load(from: directory)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-bench-train-\(getpid())")
        defer { try? FileManager.default.removeItem(at: data) }
        let items = try SyntheticColours.write(count: 64, to: data)
        let gradients = Gradients()
        let examples: [TrainingExample]
        var options = LlavaTraining.Options(padId: pipeline.tokenizer.padTokenId ?? 0)
        if full {
            gradients.register(LlavaTraining.namedWeights(of: pipeline.model))
            let builder = ExampleBuilder(pipeline: pipeline, vision: .pixels)
            examples = try items.map { try builder.trainingExample($0) }
        } else {
            let settings = AdapterSet.Settings(kind: .lora, targets: ["q_proj", "v_proj"], rank: rank, alpha: Float(2 * rank))
            let adapters = AdapterSet(settings: settings, decoder: pipeline.model.text, seed: 0)
            gradients.register(adapters.trainableTensors(task: 1))
            examples = try AdapterTuning.prepare(items, base: pipeline).map(\.example)
            options = .init(adapters: adapters, task: 1, padId: options.padId)
        }
        let trainer = Trainer(model: pipeline.model, gradients: gradients,
                              settings: TrainingSettings(steps: steps + 3, batchSize: batch, learningRate: 1e-3, warmupSteps: 0),
                              options: options)
        var sampler = BatchSampler(count: examples.count, seed: 0)
        var times: [Double] = []
        var last = ContinuousClock.now
        let report = trainer.run(batch: { _ in TrainingBatch(examples: sampler.next(batch).map { examples[$0] }) }) { progress in
            let now = ContinuousClock.now
            if progress.step > 3 { times.append(last.duration(to: now).milliseconds) }
            last = now
        }
        let p50 = percentile(times, 50)
        var result: [String: Any] = [
            "batch": batch, "steps": steps, "mode": full ? "full" : "lora", "rank": rank, "trainable_parameters": gradients.parameterCount,
            "step_p50_ms": p50, "step_p90_ms": percentile(times, 90), "items_per_s": Double(batch) / (p50 / 1000),
            "final_loss": report.finalLoss, "blas_core": BLAS.coreName,
        ]
        var torch: [String: Any]?
        if let torchPython {
            torch = try TorchComparison.run(python: torchPython, script: "bench_torch_train.py",
                                            arguments: ["--model", directory.path, "--data", data.path, "--batch", String(batch),
                                                        "--steps", String(steps), "--rank", String(rank)] + (full ? ["--full"] : []), image: nil)
            result["torch"] = torch
        }
        if json { try writeJSON(result); return }
        let mode = full ? "full training of \(gradients.parameterCount) parameters" : "LoRA r=\(rank) on q_proj,v_proj"
        print("mneme bench train — \(directory.lastPathComponent), \(mode), batch \(batch), \(steps) steps, OpenBLAS \(BLAS.coreName)")
        print("                 step p50     step p90     items/s")
        print(String(format: "mneme        %9.1f ms %9.1f ms %10.1f", p50, percentile(times, 90), Double(batch) / (p50 / 1000)))
        if let torch, let tp50 = torch["step_p50_ms"] as? Double, let tp90 = torch["step_p90_ms"] as? Double {
            print(String(format: "torch + peft %9.1f ms %9.1f ms %10.1f", tp50, tp90, Double(batch) / (tp50 / 1000)))
            print(String(format: "mneme / torch step time (p50): %.2f×", p50 / tp50))
        }
    }
}

/// A small colour-naming dataset written to disk, so both trainers read the same files.
enum SyntheticColours {
    static let colours: [(String, UInt8, UInt8, UInt8)] = [
        ("red", 220, 40, 40), ("green", 40, 180, 60), ("blue", 40, 70, 220), ("yellow", 230, 210, 40),
    ]

    static func write(count: Int, to directory: URL) throws -> [LabeledItem] {
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("images"), withIntermediateDirectories: true)
        var lines: [String] = []
        var items: [LabeledItem] = []
        var generator = SplitMix64(seed: 11)
        for index in 0 ..< count {
            let (name, r, g, b) = colours[index % colours.count]
            let cx = Int.random(in: 16 ..< 48, using: &generator), cy = Int.random(in: 16 ..< 48, using: &generator)
            var pixels = [UInt8](repeating: 235, count: 64 * 64 * 3)
            for y in 0 ..< 64 {
                for x in 0 ..< 64 where (x - cx) * (x - cx) + (y - cy) * (y - cy) < 144 {
                    pixels[(y * 64 + x) * 3] = r; pixels[(y * 64 + x) * 3 + 1] = g; pixels[(y * 64 + x) * 3 + 2] = b
                }
            }
            let image = RGBImage(width: 64, height: 64, pixels: pixels)
            let file = String(format: "images/%04d.png", index)
            try PNGEncoder.encode(image).write(to: directory.appendingPathComponent(file))
            let question = "What colour is the circle?"
            lines.append(#"{"image": "\#(file)", "question": "\#(question)", "answer": "\#(name)"}"#)
            items.append(LabeledItem(image: image, question: question, answer: name))
        }
        try (lines.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("data.jsonl"), atomically: true, encoding: .utf8)
        return items
    }
}
