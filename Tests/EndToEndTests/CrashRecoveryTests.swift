import Foundation
import TestSupport
import XCTest

/// `kill -9` of the real server during an upload, during tuning and during a snapshot write; after a restart
/// every acknowledged push is there and its job finishes.
final class CrashRecoveryTests: XCTestCase {
    var scratch: URL!
    var data: URL { scratch.appendingPathComponent("data") }

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-crash-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func tasks(_ server: MnemeProcess) throws -> [[String: Any]] {
        try server.request("GET", "/v1/tasks").object["tasks"] as? [[String: Any]] ?? []
    }

    func testKillDuringUploadKeepsAcknowledgedPushesAndNothingHalfWritten() throws {
        let server = try MnemeProcess(data: data, arguments: ["--max-epochs", "1"])
        let acknowledged = try server.request("POST", "/v1/tasks", json: ServerLifecycleTests.push("first", answer: "red"))
        XCTAssertEqual(acknowledged.status, 202, "\(acknowledged.object)")
        let firstJob = try XCTUnwrap(acknowledged.object["job_id"] as? String)

        // A second push whose body is half sent when the server dies.
        let body = try JSONSerialization.data(withJSONObject: ServerLifecycleTests.push("second", answer: "blue", items: 200))
        let client = try SocketClient(port: server.port)
        client.send("POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n")
        client.send(body.prefix(body.count / 2))
        Thread.sleep(forTimeInterval: 0.2)
        server.crash()

        let restarted = try MnemeProcess(data: data, arguments: ["--max-epochs", "1"])
        let names = try tasks(restarted).compactMap { $0["name"] as? String }
        XCTAssertEqual(names, ["first"], "the acknowledged push survives; the unacknowledged one left nothing")
        XCTAssertEqual(try restarted.waitForJob(firstJob)["state"] as? String, "done")
        // The store is writable after the crash.
        XCTAssertEqual(try restarted.request("POST", "/v1/tasks", json: ServerLifecycleTests.push("second", answer: "blue")).status, 202)
        restarted.stop()
    }

    func testKillDuringTuningRequeuesTheJobAndItFinishesAfterRestart() throws {
        let server = try MnemeProcess(data: data, arguments: ["--max-epochs", "400", "--check-every", "1000000"])
        let pushed = try server.request("POST", "/v1/tasks", json: ServerLifecycleTests.push("slow", answer: "red"))
        let jobId = try XCTUnwrap(pushed.object["job_id"] as? String, "\(pushed.object)")
        try eventually(60, "the job never reported progress") {
            let job = try server.request("GET", "/v1/jobs/\(jobId)").object
            return job["state"] as? String == "running" && ((job["progress"] as? [String: Any])?["step"] as? Int ?? 0) > 5
        }
        server.crash()

        let restarted = try MnemeProcess(data: data, arguments: ["--max-epochs", "3"])
        let job = try restarted.waitForJob(jobId)
        XCTAssertEqual(job["state"] as? String, "done", "\(job)")
        XCTAssertEqual(job["attempts"] as? Int, 2, "\(job)")
        XCTAssertEqual(try tasks(restarted).count, 1)
        restarted.stop()
    }

    func testKillDuringSnapshotWriteLeavesNoHalfSnapshot() throws {
        let server = try MnemeProcess(data: data, arguments: ["--max-epochs", "1"], environment: ["MNEME_CRASH_POINT": "snapshot-write"])
        let base = try XCTUnwrap(try server.request("GET", "/v1/snapshots").object["active"] as? String)
        let pushed = try server.request("POST", "/v1/tasks", json: ServerLifecycleTests.push("written", answer: "red"))
        let jobId = try XCTUnwrap(pushed.object["job_id"] as? String, "\(pushed.object)")
        XCTAssertTrue(server.waitForCrash(), "the server did not reach the crash point:\n\(server.output.suffix(2000))")

        let restarted = try MnemeProcess(data: data, arguments: ["--max-epochs", "1"])
        let job = try restarted.waitForJob(jobId)
        XCTAssertEqual(job["state"] as? String, "done", "\(job)")
        let snapshots = try restarted.request("GET", "/v1/snapshots").object["snapshots"] as? [[String: Any]] ?? []
        XCTAssertEqual(snapshots.count, 2, "the base and one tuned snapshot, no leftover of the killed write: \(snapshots)")
        XCTAssertEqual(Set(snapshots.compactMap { $0["id"] as? String }).contains(base), true)
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: data.path).filter { $0.contains(".draft") || $0.contains(".tmp") }
        XCTAssertEqual(leftovers, [])
        restarted.stop()
    }

    func testAJobThatKillsTheProcessEveryTimeFailsInsteadOfLooping() throws {
        var jobId: String?
        for attempt in 1 ... 3 {
            let server = try MnemeProcess(data: data, arguments: ["--max-epochs", "1"], environment: ["MNEME_CRASH_POINT": "tuning-done"])
            if attempt == 1 {
                let pushed = try server.request("POST", "/v1/tasks", json: ServerLifecycleTests.push("deadly", answer: "red"))
                jobId = try XCTUnwrap(pushed.object["job_id"] as? String, "\(pushed.object)")
            }
            XCTAssertTrue(server.waitForCrash(), "attempt \(attempt) did not crash:\n\(server.output.suffix(2000))")
        }
        let restarted = try MnemeProcess(data: data, arguments: ["--max-epochs", "1"])
        let job = try restarted.waitForJob(try XCTUnwrap(jobId))
        XCTAssertEqual(job["state"] as? String, "failed", "\(job)")
        XCTAssertTrue((job["error"] as? String ?? "").contains("gave up after 3 attempts"), "\(job)")
        // The server goes on serving and tuning.
        XCTAssertEqual(try restarted.request("POST", "/v1/answer", json: ServerLifecycleTests.query).status, 200)
        let next = try restarted.request("POST", "/v1/tasks", json: ServerLifecycleTests.push("harmless", answer: "red"))
        XCTAssertEqual(try restarted.waitForJob(try XCTUnwrap(next.object["job_id"] as? String))["state"] as? String, "done")
        restarted.stop()
    }
}
