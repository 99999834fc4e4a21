import ArgumentParser
import Foundation
import Imaging
import Logging
import Server

struct BenchServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Load the HTTP API with 1, 4 and 16 concurrent clients; report latency percentiles and requests/s.")

    @Option(help: "Model directory. Default: models/default.")
    var model: String?

    @Option(help: "Seconds of load per concurrency level.")
    var seconds: Double = 8

    @Option(help: "Concurrency levels, comma-separated.")
    var clients: String = "1,4,16"

    @Option(help: "Python with the pinned reference libraries: also time transformers answering one query at a time.")
    var torchPython: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let directory = try DefaultModel.resolve(model)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-bench-serve-\(getpid())")
        defer { try? FileManager.default.removeItem(at: data) }
        var configuration = ServerConfiguration(dataDirectory: data, modelDirectory: directory)
        configuration.port = 0
        var logger = Logger(label: "mneme.bench")
        logger.logLevel = .warning
        let server = try MnemeServer(configuration: configuration, logger: logger)
        try server.start()
        defer { server.stop() }
        let port = server.port!
        let image = BenchImage.png(width: 64, height: 64)
        let body = try JSONSerialization.data(withJSONObject: ["image": image.base64EncodedString(), "question": "What colour is the circle?",
                                                               "max_new_tokens": 4])
        // Warm up (first-use allocations, OpenBLAS threads).
        let warm = try LoadClient(port: port)
        for _ in 0 ..< 5 { _ = try warm.request(method: "POST", path: "/v1/answer", contentType: "application/json", body: body) }

        var rows: [[String: Any]] = []
        for level in clients.split(separator: ",").compactMap({ Int($0) }) {
            let result = LoadRun.run(port: port, clients: level, seconds: seconds, body: body)
            rows.append(["clients": level, "requests": result.latencies.count, "failures": result.failures,
                         "p50_ms": percentile(result.latencies, 50), "p99_ms": percentile(result.latencies, 99),
                         "requests_per_s": Double(result.latencies.count) / result.seconds])
        }
        var output: [String: Any] = ["model": directory.path, "seconds": seconds, "levels": rows]
        var torchRate: Double?
        if let torchPython {
            let torch = try TorchComparison.run(python: torchPython, script: "bench_torch.py",
                                                arguments: ["--model", directory.path, "--iterations", "50", "--tokens", "4"], image: image)
            if let p50 = torch["p50_ms"] as? Double { torchRate = 1000 / p50 }
            output["torch_one_at_a_time_requests_per_s"] = torchRate
        }
        if json { try writeJSON(output); return }
        print("mneme bench serve — \(directory.lastPathComponent), POST /v1/answer (64×64 PNG, 4 answer tokens), \(Int(seconds)) s per level")
        print("clients   requests  failures     p50 ms     p99 ms    req/s")
        for row in rows {
            print(String(format: "%7d %10d %9d %10.2f %10.2f %8.1f", row["clients"] as! Int, row["requests"] as! Int, row["failures"] as! Int,
                         row["p50_ms"] as! Double, row["p99_ms"] as! Double, row["requests_per_s"] as! Double))
        }
        if let torchRate {
            print(String(format: "transformers answering one query at a time: %.1f req/s", torchRate))
            if let top = rows.last?["requests_per_s"] as? Double {
                print(String(format: "mneme at %d clients / transformers one at a time: %.2f×", rows.last?["clients"] as! Int, top / torchRate))
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
