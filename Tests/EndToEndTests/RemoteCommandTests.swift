import Foundation
import Imaging
import XCTest

/// Operating a running server from the shell: push (with a server address without a scheme), jobs, tasks,
/// snapshots, promote and rollback, as tables and as JSON.
final class RemoteCommandTests: XCTestCase {
    var scratch: URL!
    var lastErrors = ""

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("task/images"), withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func mneme(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = try MnemeProcess.executable
        process.arguments = arguments
        let pipe = Pipe(), errors = Pipe()
        process.standardOutput = pipe
        process.standardError = errors
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        lastErrors = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    func testTheServerIsOperatedFromTheShell() throws {
        var lines = ""
        for index in 0 ..< 24 {
            let image = PNGEncoder.encode(RGBImage(width: 32, height: 32, red: UInt8(180 + index), green: UInt8(index * 3), blue: 20))
            try image.write(to: scratch.appendingPathComponent("task/images/\(index).png"))
            lines += "{\"image\": \"images/\(index).png\", \"question\": \"What colour is it?\", \"answer\": \"red\"}\n"
        }
        try lines.write(to: scratch.appendingPathComponent("task/data.jsonl"), atomically: true, encoding: .utf8)
        let server = try MnemeProcess(data: scratch.appendingPathComponent("data"), arguments: ["--max-epochs", "20"])
        let address = "127.0.0.1:\(server.port)"
        let base = try XCTUnwrap(server.request("GET", "/v1/snapshots").object["active"] as? String)

        let pushed = try mneme(["push", "--server", address, "--task", "redness", scratch.appendingPathComponent("task").path])
        XCTAssertEqual(pushed.status, 0, pushed.output)
        XCTAssertTrue(pushed.output.contains("redness: ") && pushed.output.contains("is now active"), pushed.output)

        // What the server would refuse is said before anything is read or uploaded.
        let again = try mneme(["push", "--server", address, "--task", "redness", scratch.appendingPathComponent("task").path])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(lastErrors.contains("has a task named redness already"), lastErrors)
        let refusedStrategy = try mneme(["push", "--server", address, "--task", "other", "--strategy", "seq-lora", "/nonexistent"])
        XCTAssertNotEqual(refusedStrategy.status, 0)
        XCTAssertTrue(lastErrors.contains("would refuse strategy seq-lora"), lastErrors)
        XCTAssertEqual((try server.request("GET", "/v1/tasks").object["tasks"] as? [Any])?.count, 1, "nothing more was stored")

        let jobs = try mneme(["jobs", "--server", address, "--json"])
        let job = try XCTUnwrap(((try JSONSerialization.jsonObject(with: Data(jobs.output.utf8)) as? [String: Any])?["jobs"] as? [[String: Any]])?.first)
        XCTAssertEqual(job["state"] as? String, "done")
        let tuned = try XCTUnwrap(job["snapshot"] as? String)
        let table = try mneme(["jobs", "--server", address])
        XCTAssertTrue(table.output.hasPrefix("JOB") && table.output.contains("redness") && table.output.contains(tuned), table.output)
        XCTAssertTrue(try mneme(["tasks", "--server", address]).output.contains("redness"))
        let taskId = try XCTUnwrap(job["task_id"] as? String)
        let kept = try mneme(["delete-task", taskId, "--server", address])
        XCTAssertNotEqual(kept.status, 0, "a learned task is kept")
        XCTAssertTrue(lastErrors.contains("learned by snapshot \(tuned)"), lastErrors)
        let snapshots = try mneme(["snapshots", "--server", address])
        XCTAssertTrue(snapshots.output.contains("\(tuned)  active"), snapshots.output)

        XCTAssertEqual(try mneme(["rollback", "--server", address]).output, "active snapshot: \(base)\n")
        XCTAssertEqual(try mneme(["promote", tuned, "--server", "http://" + address]).output, "active snapshot: \(tuned)\n")
        XCTAssertEqual(try mneme(["label", base, "the shipped model", "--server", address]).output, "\(base): the shipped model\n")
        XCTAssertTrue(try mneme(["snapshots", "--server", address]).output.contains("the shipped model"))
        let image = scratch.appendingPathComponent("task/images/0.png").path
        let asked = try mneme(["ask", "--server", address, "--image", image, "--question", "What colour is it?", "--task", "redness", "--json"])
        let answer = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(asked.output.utf8)) as? [String: Any], asked.output)
        XCTAssertEqual(answer["snapshot"] as? String, tuned)
        XCTAssertEqual(answer["task"] as? String, "redness")
        XCTAssertEqual(try mneme(["ask", "--server", address, "--image", image, "--question", "What colour is it?", "--task", "redness"]).output,
                       "\(answer["answer"] as? String ?? "?")\n")
        let unknown = try mneme(["promote", "s-nope", "--server", address])
        XCTAssertNotEqual(unknown.status, 0)
        server.stop()
    }

    /// A server that wants a token says so before the dataset is read, and how to give one.
    func testAMissingTokenIsReportedBeforeTheUpload() throws {
        try "{}\n".write(to: scratch.appendingPathComponent("task/data.jsonl"), atomically: true, encoding: .utf8)
        let server = try MnemeProcess(data: scratch.appendingPathComponent("data"), environment: ["MNEME_TOKEN": "s3cret"])
        let pushed = try mneme(["push", "--server", "127.0.0.1:\(server.port)", "--task", "t", "/nonexistent"])
        XCTAssertNotEqual(pushed.status, 0)
        XCTAssertTrue(lastErrors.contains("this server wants a token: give it with --token-file FILE or $MNEME_TOKEN"), lastErrors)
        server.stop()
    }
}
