import ArgumentParser
import Foundation
import Imaging
import Logging
import Server
import ShapesWorld

struct BenchServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Load the HTTP API with 1, 4 and 16 concurrent clients, idle and while a pushed task is tuning; measure the longest stall at a hot swap.")

    @Option(help: "Model directory. Default: models/default.")
    var model: String?

    @Option(help: "Seconds of load per concurrency level.")
    var seconds: Double = 8

    @Option(help: "Concurrency levels, comma-separated.")
    var clients: String = "1,4,16"

    @Option(help: "Python with the pinned reference libraries: also time transformers answering one query at a time.")
    var torchPython: String?

    @Option(help: "Hot swaps (promote, rollback, …) under load for the stall measurement (0: skip).")
    var swaps = 20

    @Flag(help: "Skip the during-tuning phase.")
    var idleOnly = false

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @OptionGroup(title: "Engine") var engine: EngineOptions

    func run() throws {
        engine.apply()
        let directory = try DefaultModel.resolve(model)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-bench-serve-\(getpid())")
        defer { try? FileManager.default.removeItem(at: data) }
        var logger = Logger(label: "mneme.bench")
        logger.logLevel = .warning
        func startServer(tuneEpochs: Int) throws -> MnemeServer {
            var configuration = ServerConfiguration(dataDirectory: data, modelDirectory: directory)
            configuration.port = 0
            configuration.tuner.learning.maxEpochs = tuneEpochs
            let server = try MnemeServer(configuration: configuration, logger: logger)
            try server.start()
            return server
        }
        let image = BenchImage.png(width: 64, height: 64)
        let body = try JSONSerialization.data(withJSONObject: ["image": image.base64EncodedString(), "question": "What colour is the circle?",
                                                               "max_new_tokens": 4])
        let levels = clients.split(separator: ",").compactMap { Int($0) }
        func measure(_ phase: String, port: UInt16) -> [[String: Any]] {
            levels.map { level in
                let result = LoadRun.run(port: port, clients: level, seconds: seconds, body: body)
                return ["phase": phase, "clients": level, "requests": result.latencies.count, "failures": result.failures,
                        "p50_ms": percentile(result.latencies, 50), "p99_ms": percentile(result.latencies, 99),
                        "requests_per_s": Double(result.latencies.count) / result.seconds]
            }
        }

        // Idle, then a quick push so two snapshots exist, then swaps under load.
        var server = try startServer(tuneEpochs: 1)
        // Warm up (first-use allocations, OpenBLAS threads).
        let warm = try LoadClient(port: server.port!)
        for _ in 0 ..< 5 { _ = try warm.request(method: "POST", path: "/v1/answer", contentType: "application/json", body: body) }
        var rows = measure("idle", port: server.port!)
        var stall: [String: Any]?
        if !idleOnly {
            let quick = try TuningLoad.push(port: server.port!, name: "bench-swap")
            _ = try TuningLoad.wait(port: server.port!, job: quick, until: { $0 == "done" })
            stall = try SwapStall.measure(port: server.port!, body: body, swaps: swaps)
            // A long tuning job on a fresh server over the same data, measured while it trains.
            server.stop()
            server = try startServer(tuneEpochs: 200)
            let long = try TuningLoad.push(port: server.port!, name: "bench-tuning")
            _ = try TuningLoad.wait(port: server.port!, job: long, until: { $0 == "running" })
            rows += measure("tuning", port: server.port!)
        }
        server.stop()
        var output: [String: Any] = ["model": directory.path, "seconds": seconds, "levels": rows]
        if let stall { output["swap"] = stall }
        var torchRate: Double?
        var torchBF16Rate: Double?
        if let torchPython {
            for dtype in ["float32", "bfloat16"] {
                let torch = try TorchComparison.run(python: torchPython, script: "bench_torch.py",
                                                    arguments: ["--model", directory.path, "--iterations", "50", "--tokens", "4", "--dtype", dtype],
                                                    image: image)
                guard let p50 = torch["p50_ms"] as? Double else { continue }
                if dtype == "float32" { torchRate = 1000 / p50 } else { torchBF16Rate = 1000 / p50 }
            }
            output["torch_one_at_a_time_requests_per_s"] = torchRate
            output["torch_bf16_one_at_a_time_requests_per_s"] = torchBF16Rate
        }
        if json { try writeJSON(output); return }
        print("mneme bench serve — \(directory.lastPathComponent), POST /v1/answer (64×64 PNG, 4 answer tokens), \(Int(seconds)) s per level")
        print("phase   clients   requests  failures     p50 ms     p99 ms    req/s")
        for row in rows {
            print(String(format: "%-7@ %7d %10d %9d %10.2f %10.2f %8.1f", row["phase"] as! String, row["clients"] as! Int, row["requests"] as! Int,
                         row["failures"] as! Int, row["p50_ms"] as! Double, row["p99_ms"] as! Double, row["requests_per_s"] as! Double))
        }
        for level in levels {
            let idle = rows.first { $0["phase"] as? String == "idle" && $0["clients"] as? Int == level }
            let busy = rows.first { $0["phase"] as? String == "tuning" && $0["clients"] as? Int == level }
            if let idle = idle?["p99_ms"] as? Double, let busy = busy?["p99_ms"] as? Double {
                print(String(format: "p99 during tuning / idle at %d clients: %.2f×", level, busy / idle))
            }
        }
        if let stall {
            print(String(format: "hot swaps under 4 clients: %d swaps, %d requests, %d failures, longest request %.2f ms (p50 %.2f ms)",
                         stall["swaps"] as! Int, stall["requests"] as! Int, stall["failures"] as! Int,
                         stall["max_ms"] as! Double, stall["p50_ms"] as! Double))
        }
        for (label, torch) in [("float32", torchRate), ("bfloat16", torchBF16Rate)] {
            guard let torch else { continue }
            print(String(format: "transformers (%@) answering one query at a time: %.1f req/s", label, torch))
            if let top = rows.filter({ $0["phase"] as? String == "idle" }).last, let rate = top["requests_per_s"] as? Double {
                print(String(format: "mneme at %d clients / transformers (%@) one at a time: %.2f×", top["clients"] as! Int, label, rate / torch))
            }
        }
    }
}

/// Closed-loop clients on threads: each sends its next request when the previous one is answered.
enum LoadRun {
    struct Result {
        var latencies: [Double] = []
        var failures = 0
        var seconds: Double = 0
        var statuses: [Int: Int] = [:]
    }

    static func run(port: UInt16, clients: Int, seconds: Double, body: Data, path: String = "/v1/answer",
                    until stop: (@Sendable () -> Bool)? = nil) -> Result {
        let collected = Collected()
        let group = DispatchGroup()
        let start = Date()
        for _ in 0 ..< clients {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                var local = Result()
                guard let client = try? LoadClient(port: port) else {
                    collected.add(Result(failures: 1))
                    return
                }
                while Date().timeIntervalSince(start) < seconds && !(stop?() ?? false) {
                    let begin = DispatchTime.now()
                    do {
                        let response = try client.request(method: "POST", path: path, contentType: "application/json", body: body)
                        local.statuses[response.status, default: 0] += 1
                        if response.status == 200 {
                            local.latencies.append(Double(DispatchTime.now().uptimeNanoseconds - begin.uptimeNanoseconds) / 1e6)
                        } else {
                            local.failures += 1
                        }
                    } catch {
                        local.failures += 1
                    }
                }
                collected.add(local)
            }
            thread.start()
        }
        group.wait()
        var result = collected.result
        result.seconds = Date().timeIntervalSince(start)
        return result
    }

    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var total = Result()

        func add(_ part: Result) {
            lock.withLock {
                total.latencies += part.latencies
                total.failures += part.failures
                total.statuses.merge(part.statuses, uniquingKeysWith: +)
            }
        }

        var result: Result { lock.withLock { total } }
    }
}

/// Pushed tasks whose tuning jobs run in the background while a phase is measured.
enum TuningLoad {
    /// Pushes 200 ShapesWorld items as task `name`; returns the job id.
    static func push(port: UInt16, name: String) throws -> String {
        let world = ShapesWorld(seed: 99)
        let items = world.generate(family: .countColour, count: 200, start: 0).map { sample -> [String: String] in
            ["image": PNGEncoder.encode(sample.image).base64EncodedString(), "question": sample.question, "answer": sample.answer]
        }
        let client = try LoadClient(port: port)
        let push = try client.request(method: "POST", path: "/v1/tasks", contentType: "application/json",
                                      body: JSONSerialization.data(withJSONObject: ["name": name, "items": items]))
        guard push.status == 202, let object = try JSONSerialization.jsonObject(with: push.body) as? [String: Any],
              let job = object["job_id"] as? String else {
            throw CommandError("push of \(name) failed: \(push.status) \(String(decoding: push.body, as: UTF8.self))")
        }
        return job
    }

    /// Waits until the job's state satisfies `until` (for "running": with at least one step done).
    static func wait(port: UInt16, job: String, until: (String) -> Bool) throws -> [String: Any] {
        let client = try LoadClient(port: port)
        let deadline = Date().addingTimeInterval(600)
        while Date() < deadline {
            let response = try client.request(method: "GET", path: "/v1/jobs/\(job)")
            let object = try JSONSerialization.jsonObject(with: response.body) as? [String: Any] ?? [:]
            let state = object["state"] as? String ?? ""
            let step = (object["progress"] as? [String: Any])?["step"] as? Int ?? 0
            if until(state), state != "running" || step > 0 { return object }
            if state == "failed" { throw CommandError("job \(job) failed: \(object)") }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw CommandError("job \(job) did not get there within 600 s")
    }
}

/// Promotes and rolls back repeatedly while 4 clients query; the longest request is the worst stall a swap caused.
enum SwapStall {
    static func measure(port: UInt16, body: Data, swaps: Int) throws -> [String: Any]? {
        guard swaps > 0 else { return nil }
        let client = try LoadClient(port: port)
        let listing = try client.request(method: "GET", path: "/v1/snapshots")
        let ids = ((try JSONSerialization.jsonObject(with: listing.body) as? [String: Any])?["snapshots"] as? [[String: Any]] ?? [])
            .compactMap { $0["id"] as? String }
        guard ids.count >= 2 else { throw CommandError("the swap measurement needs two snapshots; found \(ids)") }
        let targets = ids
        let done = Done()
        let swapper = Thread {
            guard let client = try? LoadClient(port: port) else { return done.set() }
            for index in 0 ..< swaps {
                _ = try? client.request(method: "POST", path: "/v1/snapshots/\(targets[index % targets.count])/promote")
                Thread.sleep(forTimeInterval: 0.15)
            }
            done.set()
        }
        swapper.start()
        let result = LoadRun.run(port: port, clients: 4, seconds: 60, body: body, until: { done.isSet })
        return ["swaps": swaps, "snapshots": targets.count, "requests": result.latencies.count, "failures": result.failures,
                "p50_ms": percentile(result.latencies, 50), "p99_ms": percentile(result.latencies, 99), "max_ms": result.latencies.max() ?? 0]
    }

    final class Done: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() { lock.withLock { value = true } }
        var isSet: Bool { lock.withLock { value } }
    }
}
