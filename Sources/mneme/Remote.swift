import ArgumentParser
import Foundation
import Server
import Store

/// Where a running server is and how to write to it: the options every command that talks to one shares.
struct ServerOptions: ParsableArguments {
    @Option(help: "Server base URL (http:// is assumed when no scheme is given).")
    var server: String = "http://127.0.0.1:8080"

    @Option(help: "File whose first line is the bearer token for writes (default: $MNEME_TOKEN).")
    var tokenFile: String?

    @Flag(help: "Print the server's JSON on standard output instead of a table.")
    var json = false

    var baseURL: URL {
        get throws {
            let text = server.contains("://") ? server : "http://" + server
            guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw ValidationError("--server must be a URL such as http://127.0.0.1:8080, got \(server)")
            }
            return url
        }
    }

    func client() throws -> APIClient {
        APIClient(base: try baseURL, token: try ServerConfiguration.loadToken(file: tokenFile))
    }

    func print(_ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    /// The server's reply as JSON with `--json`, else the line `text` makes of it.
    func show(_ result: [String: Any], _ text: ([String: Any]) -> String) throws {
        if json { try print(result) } else { Swift.print(text(result)) }
    }
}

/// Columns padded to their widest cell.
enum Table {
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    static func percent(_ value: Any?) -> String {
        (value as? Double).map { String(format: "%.1f%%", $0 * 100) } ?? "–"
    }
}

struct Snapshots: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a running server's snapshots: which is active, their tasks and held-out accuracy.")

    @OptionGroup var options: ServerOptions

    func run() throws {
        let listing = try options.client().send("GET", "/v1/snapshots")
        if options.json { return try options.print(listing) }
        let rows = (listing["snapshots"] as? [[String: Any]] ?? []).map { snapshot -> [String] in
            let accuracy = (snapshot["accuracy"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }
                .map { "\($0.key) \(Table.percent($0.value))" }.joined(separator: ", ")
            let state = snapshot["active"] as? Bool == true ? "active" : snapshot["candidate"] as? Bool == true ? "candidate" : ""
            return [snapshot["id"] as? String ?? "?", state, snapshot["kind"] as? String ?? "", snapshot["strategy"] as? String ?? "–",
                    (snapshot["bytes"] as? Int).map { String(format: "%.1f MB", Double($0) / 1e6) } ?? "–", snapshot["label"] as? String ?? "",
                    accuracy.isEmpty ? "–" : accuracy]
        }
        Swift.print(Table.render(["SNAPSHOT", "STATE", "KIND", "STRATEGY", "SIZE", "LABEL", "HELD-OUT ACCURACY"], rows))
    }
}

struct Promote: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make a snapshot of a running server the active one (hot swap).")

    @Argument(help: "Snapshot id.")
    var snapshot: String

    @OptionGroup var options: ServerOptions

    func run() throws {
        let result = try options.client().send("POST", "/v1/snapshots/\(snapshot)/promote")
        try options.show(result) { result in "active snapshot: \(result["active"] as? String ?? "?")" }
    }
}

struct Rollback: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make the previously active snapshot of a running server active again.")

    @OptionGroup var options: ServerOptions

    func run() throws {
        let result = try options.client().send("POST", "/v1/rollback")
        try options.show(result) { result in "active snapshot: \(result["active"] as? String ?? "?")" }
    }
}

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a running server's tuning jobs, with what each learned.")

    @OptionGroup var options: ServerOptions

    @Flag(help: "Keep listing every two seconds until no job is queued or running.")
    var follow = false

    func run() throws {
        let client = try options.client()
        while true {
            let listing = try client.send("GET", "/v1/jobs")
            let jobs = listing["jobs"] as? [[String: Any]] ?? []
            if options.json { try options.print(listing) } else { Swift.print(Self.table(jobs) + "\n") }
            let busy = jobs.contains(where: Self.isUnfinished)
            guard follow, busy else { return }
            Thread.sleep(forTimeInterval: 2)
        }
    }

    static func table(_ jobs: [[String: Any]]) -> String {
        let rows = jobs.map { job -> [String] in
            let progress = job["progress"] as? [String: Any]
            // The total is the budget; a finished job usually stopped earlier, on its plateau.
            let step = progress.map { isUnfinished(job) ? "\($0["step"] as? Int ?? 0) of at most \($0["total"] as? Int ?? 0)" : "\($0["step"] as? Int ?? 0)" } ?? "–"
            let learned = (job["outcome"] as? [String: Any])?["summary"] as? String ?? (job["error"] as? String) ?? ""
            return [job["id"] as? String ?? "?", job["task"] as? String ?? "?", job["state"] as? String ?? "?", step,
                    job["snapshot"] as? String ?? "–", learned]
        }
        return Table.render(["JOB", "TASK", "STATE", "STEPS", "SNAPSHOT", "WHAT IT LEARNED"], rows)
    }

    /// Whether a listed job is queued or running (`JobState.isUnfinished`).
    static func isUnfinished(_ job: [String: Any]) -> Bool {
        JobState(rawValue: job["state"] as? String ?? "")?.isUnfinished ?? false
    }
}

struct Tasks: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the tasks pushed to a running server.")

    @OptionGroup var options: ServerOptions

    func run() throws {
        let listing = try options.client().send("GET", "/v1/tasks")
        if options.json { return try options.print(listing) }
        let rows = (listing["tasks"] as? [[String: Any]] ?? []).map { task -> [String] in
            [task["id"] as? String ?? "?", task["name"] as? String ?? "?", String(task["items"] as? Int ?? 0),
             String(task["eval_items"] as? Int ?? 0), task["job_id"] as? String ?? "–"]
        }
        Swift.print(Table.render(["TASK", "NAME", "ITEMS", "HELD OUT", "JOB"], rows))
    }
}

struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a queued or running tuning job of a running server.")

    @Argument(help: "Job id.")
    var job: String

    @OptionGroup var options: ServerOptions

    func run() throws {
        let result = try options.client().send("DELETE", "/v1/jobs/\(job)")
        try options.show(result) { _ in "cancelling job \(job) (a running job stops at its next step)" }
    }
}

struct DeleteSnapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-snapshot",
        abstract: "Delete a snapshot of a running server for good (not the base, the active one or the rollback target).")

    @Argument(help: "Snapshot id.")
    var snapshot: String

    @OptionGroup var options: ServerOptions

    func run() throws {
        let result = try options.client().send("DELETE", "/v1/snapshots/\(snapshot)")
        try options.show(result) { _ in "deleted snapshot \(snapshot)" }
    }
}

struct DeleteTask: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-task",
        abstract: "Delete a task's data and job from a running server for good (only a task no snapshot has learned, with its job finished).")

    @Argument(help: "Task id (mneme tasks).")
    var task: String

    @OptionGroup var options: ServerOptions

    func run() throws {
        let result = try options.client().send("DELETE", "/v1/tasks/\(task)")
        try options.show(result) { _ in "deleted task \(task)" }
    }
}

struct Label: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Label a snapshot of a running server (an empty label removes it); labelled snapshots are never pruned.")

    @Argument(help: "Snapshot id.")
    var snapshot: String

    @Argument(help: "The label, e.g. \"before the March relabel\".")
    var label: String

    @OptionGroup var options: ServerOptions

    func run() throws {
        let body = try JSONSerialization.data(withJSONObject: ["label": label])
        let result = try options.client().send("POST", "/v1/snapshots/\(snapshot)/label", body: body, contentType: "application/json")
        try options.show(result) { result in (result["label"] as? String).map { "\(snapshot): \($0)" } ?? "\(snapshot): no label" }
    }
}
