import ArgumentParser
import Datasets
import Foundation
import Server
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload a dataset folder to a running server as a new task and follow its tuning job.")

    @Option(help: "Name of the task.")
    var task: String

    @Argument(help: "Dataset folder (data.jsonl or a LLaVA conversation file, with its images).")
    var dataset: String

    @Option(help: "Continual-learning strategy (default: the server's).")
    var strategy: String?

    @Option(help: "Fraction of the items the server holds out for evaluation.")
    var evalFraction: Double?

    @Flag(help: "Return once the push is stored instead of following the job.")
    var noFollow = false

    @OptionGroup var options: ServerOptions

    var json: Bool { options.json }

    func run() throws {
        let client = try options.client()
        try precheck(client)
        let data = try Dataset.load(from: URL(fileURLWithPath: dataset))
        guard !data.items.isEmpty else { throw CommandError("dataset \(dataset) has no items") }

        // One multipart body: name, options, a JSONL manifest, one file part per distinct image.
        var form = MultipartBody()
        form.field("name", task)
        if let strategy { form.field("strategy", strategy) }
        if let evalFraction { form.field("eval_fraction", String(evalFraction)) }
        var partNames: [String: String] = [:]
        var manifest = ""
        let reading = ProgressBar("reading \(URL(fileURLWithPath: dataset).lastPathComponent)")
        for (index, item) in data.items.enumerated() {
            if partNames[item.image] == nil {
                let name = "image\(partNames.count)"
                partNames[item.image] = name
                form.file(name, filename: URL(fileURLWithPath: item.image).lastPathComponent, data: try data.imageData(of: item))
            }
            let line = try JSONSerialization.data(withJSONObject: ["image": partNames[item.image]!, "question": item.question, "answer": item.answer])
            manifest += String(decoding: line, as: UTF8.self) + "\n"
            reading.update(index + 1, data.items.count)
        }
        form.field("manifest", manifest, contentType: "application/x-ndjson")

        FileHandle.standardError.write(Data(String(format: "uploading %d items (%.1f MB)\n", data.items.count,
                                                   Double(form.body.count) / 1e6).utf8))
        let accepted = try client.send("POST", "/v1/tasks", body: form.finished(), contentType: form.contentType)
        guard let jobID = accepted["job_id"] as? String else { throw CommandError("the server's reply has no job_id: \(accepted)") }
        FileHandle.standardError.write(Data("stored task \(accepted["task_id"] ?? "?") as job \(jobID)\n".utf8))
        if noFollow {
            if json { try writeJSON(accepted) }
            return
        }
        let job = try follow(jobID, client: client)
        if json { try writeJSON(job) }
        guard job["state"] as? String == "done" else {
            throw CommandError("job \(jobID) failed: \(job["error"] as? String ?? "no reason given")")
        }
        let snapshot = job["snapshot"] as? String ?? "?"
        let promoted = job["promoted"] as? Bool ?? false
        if let summary = (job["outcome"] as? [String: Any])?["summary"] as? String { print(summary) }
        print(promoted ? "snapshot \(snapshot) is now active" : "snapshot \(snapshot) kept as a candidate, not promoted")
    }

    /// What the server would refuse is found before the dataset is read and uploaded: an unreachable server,
    /// a strategy it would not take now, a name in use, a missing or wrong token.
    private func precheck(_ client: APIClient) throws {
        _ = try client.send("GET", "/readyz")
        if let strategy, let usable = try client.send("GET", "/v1/snapshots")["strategies"] as? [String], !usable.contains(strategy) {
            throw CommandError("the server would refuse strategy \(strategy) now: it takes \(usable.joined(separator: ", ")) on top of its active snapshot")
        }
        let name = task.trimmingCharacters(in: .whitespacesAndNewlines)
        let failed = Set((try client.send("GET", "/v1/jobs")["jobs"] as? [[String: Any]] ?? [])
            .filter { $0["state"] as? String == "failed" }.compactMap { $0["id"] as? String })
        let taken = (try client.send("GET", "/v1/tasks")["tasks"] as? [[String: Any]] ?? [])
            .contains { $0["name"] as? String == name && !failed.contains($0["job_id"] as? String ?? "") }
        if taken { throw CommandError("the server has a task named \(name) already; choose another --task") }
        // An empty push is refused after the token check and before anything is stored: a 400 means the token is fine.
        do {
            _ = try client.send("POST", "/v1/tasks", body: Data("{}".utf8), contentType: "application/json")
        } catch let failure as APIClient.Failure where failure.status == 400 {
            return
        }
    }

    /// Polls the job until it is done or failed, drawing its progress.
    private func follow(_ jobID: String, client: APIClient) throws -> [String: Any] {
        let bar = ProgressBar("job \(jobID)")
        var failures = 0
        while true {
            let job: [String: Any]
            do {
                job = try client.send("GET", "/v1/jobs/\(jobID)")
                failures = 0
            } catch let error as APIClient.Failure where error.status == nil && failures < 30 {
                failures += 1  // the server may be restarting; the job is durable, so keep following it
                Thread.sleep(forTimeInterval: 1)
                continue
            }
            let state = job["state"] as? String ?? "?"
            let progress = job["progress"] as? [String: Any] ?? [:]
            let step = progress["step"] as? Int ?? 0
            let total = max(progress["total"] as? Int ?? 0, 1)
            let checks = (progress["held_out"] as? [[String: Any]] ?? []).compactMap { check -> (correct: Int, items: Int)? in
                guard let correct = check["correct"] as? Int, let items = check["items"] as? Int, items > 0 else { return nil }
                return (correct, items)
            }
            if state == "done" || state == "failed" {
                // Training may stop early on a plateau and keeps its best check: say so, not the budget or the last check.
                var detail = "\(state) after \(step) steps"
                if let best = checks.max(by: { Double($0.correct) / Double($0.items) < Double($1.correct) / Double($1.items) }) {
                    detail += "  best held-out \(best.correct)/\(best.items)"
                }
                bar.update(max(step, 1), max(step, 1), detail: detail, force: true)
                return job
            }
            var detail = state
            if let loss = progress["loss"] as? Double { detail += String(format: "  loss %.4f", loss) }
            if let last = checks.last { detail += "  held-out \(last.correct)/\(last.items)" }
            if let eta = progress["eta_s"] as? Double { detail += "  at most " + ProgressBar.duration(eta) }
            bar.update(min(step, total - 1), total, detail: detail)
            Thread.sleep(forTimeInterval: 0.5)
        }
    }
}

/// A `multipart/form-data` body under construction.
struct MultipartBody {
    let boundary = "mneme-" + UUID().uuidString
    private(set) var body = Data()
    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    mutating func field(_ name: String, _ value: String, contentType: String? = nil) {
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n".utf8))
        if let contentType { body.append(Data("Content-Type: \(contentType)\r\n".utf8)) }
        body.append(Data("\r\n\(value)\r\n".utf8))
    }

    mutating func file(_ name: String, filename: String, data: Data) {
        let safeName = filename.replacingOccurrences(of: "\"", with: "_")
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(safeName)\"\r\n".utf8))
        body.append(Data("Content-Type: application/octet-stream\r\n\r\n".utf8))
        body.append(data)
        body.append(Data("\r\n".utf8))
    }

    func finished() -> Data { body + Data("--\(boundary)--\r\n".utf8) }
}

/// Blocking JSON calls to a Mneme server; a server error becomes a failure carrying its status and message.
struct APIClient {
    struct Failure: Error, CustomStringConvertible {
        let status: Int?
        let description: String
    }

    let base: URL
    let token: String?

    func send(_ method: String, _ path: String, body: Data? = nil, contentType: String? = nil) throws -> [String: Any] {
        var request = URLRequest(url: base.appendingPathComponent(path))
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 600
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            outcome.set(data: data, status: (response as? HTTPURLResponse)?.statusCode, error: error)
            done.signal()
        }.resume()
        done.wait()
        let (data, status, error) = outcome.get()
        guard let status else {
            throw Failure(status: nil, description: "cannot reach \(base.absoluteString): \(error?.localizedDescription ?? "no response")")
        }
        let object = data.flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]
        guard (200 ..< 300).contains(status) else {
            let detail = (object?["error"] as? [String: Any]).map { "\($0["code"] ?? "error"): \($0["message"] ?? "")" }
            let hint = status == 401 ? (token == nil ? " — this server wants a token: give it with --token-file FILE or $MNEME_TOKEN"
                                                     : " — the token given (--token-file or $MNEME_TOKEN) is not this server's") : ""
            throw Failure(status: status, description: "\(method) \(path) → \(status) \(detail ?? String(decoding: data ?? Data(), as: UTF8.self))\(hint)")
        }
        guard let object else { throw Failure(status: status, description: "\(method) \(path): the reply is not a JSON object") }
        return object
    }

    private final class Outcome: @unchecked Sendable {
        private let lock = NSLock()
        private var value: (Data?, Int?, Error?) = (nil, nil, nil)
        func set(data: Data?, status: Int?, error: Error?) { lock.withLock { value = (data, status, error) } }
        func get() -> (Data?, Int?, Error?) { lock.withLock { value } }
    }
}
