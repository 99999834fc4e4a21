import ArgumentParser
import Foundation
import Imaging
import LLaVA
import ModelIO
import Tensor

/// How far half-precision and 8-bit weights move a model's predictions from float32's.
struct BenchPrecision: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "precision",
        abstract: "Agreement of bf16 and 8-bit weights with float32: top-1 at every prompt position and the log-prob error.",
        discussion: """
            Per model: one image and question through the model loaded three ways in this process — float32 (every \
            weight widened), half (linear layers as stored, `--weights half`) and 8-bit (`--weights int8`) — with \
            the logits of every prompt position compared to float32's: the share of positions whose top token is \
            float32's, and the mean and largest change in the log-probability of float32's top token.
            """)

    @Option(help: "Model directories, comma-separated.")
    var models: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        var rows: [[String: Any]] = []
        for path in models.split(separator: ",").map(String.init) {
            let directory = URL(fileURLWithPath: path)
            let pipeline = try LlavaPipeline.load(from: directory)  // float32: the library's default
            let config = try LlavaConfig.load(from: directory)
            let decoded = try ImageDecoder.decode(BenchImage.png())
            let pixels = pipeline.pixels(of: decoded)
            let prompt = try pipeline.promptIds(question: "What colour is the circle?")
            func logProbs(_ model: LlavaModel) throws -> Tensor {
                let features = try model.imageFeatures(pixels: pixels)
                let embeddings = try model.embed(ids: prompt, imageFeatures: features)
                let hidden = model.decode(embeddings: embeddings, segments: [.init(cache: model.makeCache(capacity: prompt.count), rows: 0 ..< prompt.count)])
                let logits = model.logits(hidden: hidden)
                Softmax.logSoftmax(out: logits, logits: logits)
                return logits
            }
            let reference = try logProbs(pipeline.model)
            var row: [String: Any] = ["model": directory.lastPathComponent, "positions": prompt.count]
            for (name, quantize) in [("half", false), ("int8", true)] {
                var checkpoint = try Checkpoint(directory: directory, keepHalf: true)
                checkpoint.quantizeMatrices = quantize
                let model = try LlavaModel(config: config, checkpoint: checkpoint)
                let other = try logProbs(model)
                var agree = 0, errorSum: Double = 0, errorMax: Float = 0
                for position in 0 ..< reference.rows {
                    let a = reference.data + position * reference.columns, b = other.data + position * other.columns
                    let top = (0 ..< reference.columns).max { a[$0] < a[$1] }!
                    if (0 ..< other.columns).max(by: { b[$0] < b[$1] })! == top { agree += 1 }
                    let error = abs(b[top] - a[top])
                    errorSum += Double(error)
                    errorMax = max(errorMax, error)
                }
                row[name] = ["top1_agreement": Double(agree) / Double(reference.rows),
                             "logprob_error_mean": errorSum / Double(reference.rows), "logprob_error_max": Double(errorMax)]
            }
            rows.append(row)
        }
        let cpu = CPUDescription.current
        if json { try writeJSON(["cpu": cpu.json, "int8_kernel": Int8Linear.report, "half_kernel": HalfLinear.report, "models": rows]); return }
        print("mneme bench precision — \(cpu.model); \(cpu.flagsLine)")
        print("\(HalfLinear.report); \(Int8Linear.report)\n")
        print("| model | prompt positions | bf16: top-1 = f32 | bf16: log-prob error mean / max | int8: top-1 = f32 | int8: log-prob error mean / max |")
        print("|---|---:|---:|---:|---:|---:|")
        for row in rows {
            func cells(_ key: String) -> String {
                guard let r = row[key] as? [String: Double] else { return "– | –" }
                return String(format: "%.1f%% | %.4f / %.4f", 100 * r["top1_agreement"]!, r["logprob_error_mean"]!, r["logprob_error_max"]!)
            }
            print("| \(row["model"]!) | \(row["positions"]!) | \(cells("half")) | \(cells("int8")) |")
        }
    }
}
