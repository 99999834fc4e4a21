import ArgumentParser
import Foundation
import Tensor

/// The engine at several model sizes, against PyTorch on the same checkpoints in the same run.
struct BenchScale: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "One query per model size against PyTorch F32 and BF16: per stage, peak memory, and GFLOP/s against the GEMM peaks of this CPU.",
        discussion: """
            Each model is measured in a process of its own (`mneme bench infer`, then scripts/bench_torch.py in float32 and \
            in bfloat16), so each peak memory is that model's alone. Make the models with scripts/make_scale_models.py.
            """)

    @Option(help: "Model directories, comma-separated, smallest first.")
    var models: String

    @Option(help: "Timed queries per model and engine (after 3 warm-up ones).")
    var iterations = 10

    @Option(help: "Decoded tokens per query.")
    var tokens = 4

    @Option(help: "Python with the pinned reference libraries (scripts/requirements.txt): also run PyTorch.")
    var torchPython: String?

    @Option(help: "Also write the results as JSON here.")
    var json: String?

    func run() throws {
        let cpu = CPUDescription.current
        let sgemmPeak = Self.sgemmPeak()
        var torchPeaks: [String: Double] = [:]
        var rows: [[String: Any]] = []
        for model in models.split(separator: ",").map(String.init) {
            let directory = URL(fileURLWithPath: model)
            FileHandle.standardError.write(Data("measuring \(directory.lastPathComponent) with mneme…\n".utf8))
            var row: [String: Any] = ["model": directory.lastPathComponent, "mneme": try Self.mneme(directory, iterations: iterations, tokens: tokens)]
            if let torchPython {
                for dtype in ["float32", "bfloat16"] {
                    FileHandle.standardError.write(Data("measuring \(directory.lastPathComponent) with PyTorch \(dtype)…\n".utf8))
                    var arguments = ["--model", directory.path, "--iterations", String(iterations), "--tokens", String(tokens), "--dtype", dtype]
                    if torchPeaks[dtype] == nil { arguments.append("--gemm-peak") }
                    let result = try TorchComparison.run(python: torchPython, script: "bench_torch.py", arguments: arguments, image: BenchImage.png())
                    if let peak = result["gemm_gflops"] as? Double { torchPeaks[dtype] = peak }
                    row["torch_" + dtype] = result
                }
            }
            rows.append(row)
        }
        let report: [String: Any] = ["cpu": cpu.json, "blas_core": BLAS.coreName, "blas_threads": BLAS.threads, "sgemm_gflops": sgemmPeak,
                                     "torch_gemm_gflops": torchPeaks, "iterations": iterations, "tokens": tokens, "models": rows]
        if let json {
            try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
        }
        print(Self.table(report, cpu: cpu, sgemmPeak: sgemmPeak, torchPeaks: torchPeaks))
    }

    /// `mneme bench infer` on one model in a child process (its peak memory is that model's alone).
    static func mneme(_ directory: URL, iterations: Int, tokens: Int) throws -> [String: Any] {
        try TorchComparison.jsonOutput(of: URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath(),
                                       arguments: ["bench", "infer", "--model", directory.path, "--iterations", String(iterations),
                                                   "--tokens", String(tokens), "--json"],
                                       name: "mneme bench infer --model \(directory.path)")
    }

    /// The best GFLOP/s of a 1536³ single-precision product through BLAS, on its threads.
    static func sgemmPeak(size: Int = 1536, repeats: Int = 5) -> Double {
        var generator = SplitMix64(seed: 1)
        let a = Tensor(shape: [size, size], values: (0 ..< size * size).map { _ in Float.random(in: -1 ... 1, using: &generator) })
        let b = Tensor(shape: [size, size], values: (0 ..< size * size).map { _ in Float.random(in: -1 ... 1, using: &generator) })
        let c = Tensor(zeros: [size, size])
        BLAS.matmul(a, b, into: c)
        var best = Double.infinity
        let clock = ContinuousClock()
        for _ in 0 ..< repeats {
            let start = clock.now
            BLAS.matmul(a, b, into: c)
            best = min(best, start.duration(to: clock.now).milliseconds / 1000)
        }
        return 2 * pow(Double(size), 3) / best / 1e9
    }

    static func table(_ report: [String: Any], cpu: CPUDescription, sgemmPeak: Double, torchPeaks: [String: Double]) -> String {
        var lines = ["mneme bench scale — \(cpu.model); \(cpu.flagsLine)",
                     String(format: "OpenBLAS %@ × %d threads: sgemm peak %.0f GFLOP/s", BLAS.coreName, BLAS.threads, sgemmPeak)
                         + (torchPeaks["bfloat16"].map { String(format: "; PyTorch bf16 matmul peak %.0f GFLOP/s", $0) } ?? "")
                         + (torchPeaks["float32"].map { String(format: ", f32 %.0f", $0) } ?? ""),
                     "",
                     "| model | params | file MB | stage | mneme p50 ms | torch F32 p50 ms | torch BF16 p50 ms | ÷ F32 | ÷ BF16 |",
                     "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
        func p50(_ result: [String: Any]?, _ stage: String) -> Double? {
            ((result?["stages"] as? [String: Any])?[stage] as? [String: Any])?["p50_ms"] as? Double
        }
        let models = report["models"] as? [[String: Any]] ?? []
        for row in models {
            let mneme = row["mneme"] as? [String: Any]
            let f32 = row["torch_float32"] as? [String: Any], bf16 = row["torch_bfloat16"] as? [String: Any]
            let parameters = Double(mneme?["parameters"] as? Int ?? 0) / 1e6
            for stage in ["vision", "prefill", "decode", "total"] {
                let ours = p50(mneme, stage)
                func cell(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "–" }
                func ratio(_ theirs: Double?) -> String {
                    guard let ours, let theirs, theirs > 0 else { return "–" }
                    return String(format: "%.2f×", ours / theirs)
                }
                let name = stage == "vision" ? "\(row["model"] ?? "")" : ""
                let size = stage == "vision" ? String(format: "%.1f M", parameters) : ""
                let file = stage == "vision" ? String(format: "%.0f", mneme?["checkpoint_mb"] as? Double ?? 0) : ""
                lines.append("| \(name) | \(size) | \(file) | \(stage) | \(cell(ours)) | \(cell(p50(f32, stage))) | \(cell(p50(bf16, stage))) "
                             + "| \(ratio(p50(f32, stage))) | \(ratio(p50(bf16, stage))) |")
            }
        }
        lines += ["", "Peak memory: the process's peak resident set; \"code\" is the resident pages of the program and its shared",
                  "libraries at the end of the run (any process of it holds them, whatever the model); peak − code is the model's.", "",
                  "| model | mneme peak MB | code MB | peak − code ÷ file | torch F32 peak MB (code) | torch BF16 peak MB (code) | mneme GFLOP/s (share of sgemm peak) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for row in models {
            let mneme = row["mneme"] as? [String: Any]
            let peak = mneme?["peak_rss_mb"] as? Double ?? 0, file = mneme?["checkpoint_mb"] as? Double ?? 0
            let code = mneme?["code_rss_mb"] as? Double ?? 0
            let gflops = mneme?["gflops"] as? Double ?? 0
            func torchPeak(_ key: String) -> String {
                guard let torch = row[key] as? [String: Any], let peak = torch["peak_rss_mb"] as? Double else { return "–" }
                return String(format: "%.0f (%.0f)", peak, torch["code_rss_mb"] as? Double ?? 0)
            }
            lines.append(String(format: "| %@ | %.0f | %.0f | %.2f× | %@ | %@ | %.0f (%.0f%%) |", "\(row["model"] ?? "")", peak, code,
                                file > 0 ? (peak - code) / file : 0, torchPeak("torch_float32"), torchPeak("torch_bfloat16"), gflops, 100 * gflops / sgemmPeak))
        }
        return lines.joined(separator: "\n")
    }
}

/// The CPU a benchmark ran on, as /proc/cpuinfo tells: its model and the instruction sets that matter here.
struct CPUDescription {
    var model: String
    var flags: Set<String>

    static var current: CPUDescription {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = text.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) }
        return CPUDescription(model: model ?? "unknown CPU", flags: BLASKernel.cpuFlags())
    }

    /// The instruction sets matrix kernels use, in the order of their arrival.
    static let relevant = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                           "amx_tile", "amx_bf16", "amx_int8"]

    var present: [String] { Self.relevant.filter(flags.contains) }
    var flagsLine: String { "\(ProcessInfo.processInfo.activeProcessorCount) cores, " + present.joined(separator: " ") }
    var json: [String: Any] { ["model": model, "flags": present, "cores": ProcessInfo.processInfo.activeProcessorCount] }
}
