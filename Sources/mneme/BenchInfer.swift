import ArgumentParser
import Foundation
import Imaging
import LLaVA
import ModelIO
import Tensor

struct BenchInfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Time one full query per stage: image decode, preprocess, vision, prefill, 4 decoded tokens.")

    @Option(help: "Model directory, or a snapshot: then the queries take its tasks in turn (each task's update in memory, as a server answering every task holds them). Default: models/default.")
    var model: String?

    @Option(help: "Image file; default: a synthetic 320×240 PNG.")
    var image: String?

    @Option(help: "Timed iterations (after 3 warm-up runs).")
    var iterations = 50

    @Option(help: "Decoded tokens per query (EOS ignored so every run does the same work).")
    var tokens = 4

    @Option(help: "Python with the pinned reference libraries: also run scripts/bench_torch.py on the same model and image.")
    var torchPython: String?

    @Option(help: "PyTorch's weight dtype for the comparison: float32 or bfloat16.")
    var torchDtype = "float32"

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @OptionGroup(title: "Engine") var engine: EngineOptions

    func run() throws {
        engine.apply()
        let directory = try DefaultModel.resolve(model)
        // The one answer recipe the server, `ask` and `eval` use, loaded as they load it.
        let snapshot = try Snapshot.load(from: directory, serving: true)
        let loadedMB = ProcessMemory.residentMB
        // A snapshot's base model is what PyTorch runs and what its peak is compared with.
        let modelDirectory = snapshot.manifest?.baseDirectory(of: directory) ?? directory
        let imageBytes = try image.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } ?? BenchImage.png()
        let question = "What colour is the circle?"
        let stages = ["decode_image", "preprocess", "vision", "prefill", "decode", "total"]
        var samples = Dictionary(uniqueKeysWithValues: stages.map { ($0, [Double]()) })
        var perTask: [String: [Double]] = [:]
        let clock = ContinuousClock()
        var flops = 0
        var busy = 0.0
        for iteration in 0 ..< iterations + 3 {
            let flopsBefore = BLAS.flopCounter.load(ordering: .relaxed)
            let t0 = clock.now
            let decoded = try ImageDecoder.decode(imageBytes)
            let t1 = clock.now
            let task = snapshot.tasks[iteration % snapshot.tasks.count]
            let routed = try snapshot.answer([Snapshot.Query(image: decoded, question: question, task: task, maxNewTokens: tokens, stops: false)])[0].get()
            let t2 = clock.now
            guard iteration >= 3 else { continue }
            let timings = routed.answer.timings
            samples["decode_image"]!.append(t0.duration(to: t1).milliseconds)
            for stage in ["preprocess", "vision", "prefill", "decode"] { samples[stage]!.append(timings[stage] ?? .nan) }
            let total = t0.duration(to: t2).milliseconds
            samples["total"]!.append(total)
            perTask[task, default: []].append(total)
            flops += BLAS.flopCounter.load(ordering: .relaxed) - flopsBefore
            busy += total
        }
        let gflops = Double(flops) / (busy / 1000) / 1e9
        var result: [String: Any] = [
            "model": modelDirectory.path, "iterations": iterations, "tokens": tokens, "gflops": gflops,
            "peak_rss_mb": ProcessMemory.peakResidentMB, "code_rss_mb": ProcessMemory.codeResidentMB, "loaded_rss_mb": loadedMB, "checkpoint_mb": ProcessMemory.checkpointMB(modelDirectory),
            "parameters": ProcessMemory.checkpointParameters(modelDirectory),
            "tasks": snapshot.tasks.count - 1, "adapters_mb": snapshot.manifest == nil ? 0 : ProcessMemory.checkpointMB(directory),
            "blas_core": BLAS.coreName, "blas_threads": BLAS.threads,
            "stages": Dictionary(uniqueKeysWithValues: stages.map { ($0, ["p50_ms": percentile(samples[$0]!, 50), "p90_ms": percentile(samples[$0]!, 90)]) }),
            "p50_ms": percentile(samples["total"]!, 50), "p90_ms": percentile(samples["total"]!, 90),
            "task_p50_ms": perTask.mapValues { percentile($0, 50) },
        ]
        var torch: [String: Any]?
        if let torchPython {
            torch = try TorchComparison.run(python: torchPython, script: "bench_torch.py",
                                            arguments: ["--model", modelDirectory.path, "--iterations", String(iterations),
                                                        "--tokens", String(tokens), "--dtype", torchDtype], image: imageBytes)
            result["torch"] = torch
        }
        if json { try writeJSON(result); return }
        print("mneme bench infer — \(directory.lastPathComponent), \(iterations) iterations, \(tokens) tokens, OpenBLAS \(BLAS.coreName) × \(BLAS.threads) threads")
        var header = "stage".padding(toLength: 14, withPad: " ", startingAt: 0) + "mneme p50   mneme p90"
        if torch != nil { header += "   torch p50   torch p90   ratio p50" }
        print(header)
        let torchStages = torch?["stages"] as? [String: [String: Double]]
        for stage in stages {
            var line = stage.padding(toLength: 14, withPad: " ", startingAt: 0)
                + format(percentile(samples[stage]!, 50)) + format(percentile(samples[stage]!, 90))
            if let t = torchStages?[stage], let p50 = t["p50_ms"], let p90 = t["p90_ms"] {
                line += format(p50) + format(p90) + String(format: "%10.2f×", percentile(samples[stage]!, 50) / p50)
            }
            print(line)
        }
        let peak = ProcessMemory.peakResidentMB, code = ProcessMemory.codeResidentMB
        print(String(format: "GFLOP/s through BLAS during the queries: %.1f; memory %.0f MB after loading, peak %.0f MB "
                     + "(the program's code and libraries %.0f MB of it), for a %.0f MB checkpoint",
                     gflops, loadedMB, peak, code, ProcessMemory.checkpointMB(modelDirectory))
              + (snapshot.tasks.count > 1 ? String(format: " and %d tasks (adapter file %.0f MB)", snapshot.tasks.count - 1, ProcessMemory.checkpointMB(directory)) : ""))
        if snapshot.tasks.count > 1 {
            print("total p50 per task: " + snapshot.tasks.compactMap { task in perTask[task].map { String(format: "%@ %.1f ms", task, percentile($0, 50)) } }.joined(separator: ", "))
        }
    }

    func format(_ milliseconds: Double) -> String { String(format: "%9.3f ms", milliseconds) }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// What this process holds, for benchmarks.
enum ProcessMemory {
    /// The peak resident set so far (VmHWM), in MB (10⁶ bytes); 0 where /proc is not there.
    static var peakResidentMB: Double { status("VmHWM") }
    /// The resident set now (VmRSS), in MB.
    static var residentMB: Double { status("VmRSS") }

    private static func status(_ field: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kB = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kB * 1024 / 1e6
    }

    /// The resident pages of the program's own code and its shared libraries (the Swift runtime, Foundation,
    /// OpenBLAS, oneDNN…), in MB: what any process of this program holds whatever model it loads. Taken from
    /// the peak, what is left is the model's memory (weights, activations, caches).
    static var codeResidentMB: Double {
        // Read to the end: /proc files report no size, and smaps is longer than one read.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/smaps"),
              let data = try? handle.readToEnd(), let text = String(data: data, encoding: .utf8) else { return 0 }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var kB = 0, isCode = false
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), first.allSatisfy({ $0.isHexDigit || $0 == "-" }) {
                let path = fields.count > 5 ? String(fields[5]) : ""
                isCode = path == executable || path.hasSuffix(".so") || path.contains(".so.")
            } else if isCode, fields.first == "Rss:", fields.count > 1 {
                kB += Int(fields[1]) ?? 0
            }
        }
        return Double(kB) * 1024 / 1e6
    }

    /// The values stored in a model directory's weight files.
    static func checkpointParameters(_ directory: URL) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".safetensors") }.reduce(0) { total, name in
            let file = try? SafeTensorsFile(contentsOf: directory.appendingPathComponent(name))
            return total + (file?.entries.values.reduce(0) { $0 + $1.shape.reduce(1, *) } ?? 0)
        }
    }

    /// The bytes of a model directory's weight files (*.safetensors), in MB.
    static func checkpointMB(_ directory: URL) -> Double {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let bytes = names.filter { $0.hasSuffix(".safetensors") }.reduce(0) { total, name in
            total + ((try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)[.size] as? Int) ?? 0)
        }
        return Double(bytes) / 1e6
    }
}

/// A deterministic picture for benchmarks when the user gives none.
enum BenchImage {
    static func png(width: Int = 320, height: Int = 240) -> Data {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0 ..< height {
            for x in 0 ..< width {
                let inside = (x - 100) * (x - 100) + (y - 120) * (y - 120) < 60 * 60
                let offset = (y * width + x) * 3
                pixels[offset] = inside ? 220 : UInt8((x * 7 + y * 3) & 0xFF)
                pixels[offset + 1] = inside ? 30 : UInt8((x * 3 + y * 5) & 0xFF)
                pixels[offset + 2] = inside ? 40 : 128
            }
        }
        return PNGEncoder.encode(RGBImage(width: width, height: height, pixels: pixels))
    }
}

/// Runs a comparison script under scripts/ with the same inputs and reads the JSON it prints.
enum TorchComparison {
    static func scriptsDirectory() throws -> URL {
        var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("scripts")]
        var executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0 ..< 4 {
            candidates.append(executable.appendingPathComponent("scripts"))
            executable.deleteLastPathComponent()
        }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw CommandError("cannot find the scripts/ directory for the PyTorch comparison")
        }
        return found
    }

    static func run(python: String, script: String, arguments: [String], image: Data?) throws -> [String: Any] {
        var arguments = arguments
        if let image {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-bench-\(getpid()).png")
            try image.write(to: url)
            arguments += ["--image", url.path]
        }
        return try jsonOutput(of: URL(fileURLWithPath: python),
                              arguments: [try scriptsDirectory().appendingPathComponent(script).path] + arguments + ["--json"],
                              name: script)
    }

    /// Runs `executable` and reads the JSON object it prints (another benchmark's results).
    static func jsonOutput(of executable: URL, arguments: [String], name: String) throws -> [String: Any] {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CommandError("\(name) failed (exit \(process.terminationStatus)); run it by hand to see why")
        }
        return object
    }
}
