import Foundation
import XCTest

/// The local scale-out proof (docs/DESIGN.md §8): one tuner and two read-only replicas on one data directory. A push to
/// the tuner reaches both replicas as the new active snapshot, and so does a rollback, while a load runs against
/// the replicas and no request fails.
final class ReplicaTests: XCTestCase {
    func testTwoReplicasFollowTheTunerThroughPromotionAndRollbackUnderLoad() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-replicas-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let data = scratch.appendingPathComponent("data")
        let tuner = try MnemeProcess(data: data, arguments: ["--role", "tuner", "--max-epochs", "25"])
        let replicas = try (0 ..< 2).map { _ in try MnemeProcess(data: data, arguments: ["--role", "replica"]) }
        let base = try XCTUnwrap(try tuner.request("GET", "/v1/snapshots").object["active"] as? String)

        // Replicas refuse writes and say where to send them.
        let refused = try replicas[0].request("POST", "/v1/tasks", json: ServerLifecycleTests.push("nope", answer: "red"))
        XCTAssertEqual(refused.status / 100, 4, "\(refused.object)")
        XCTAssertTrue(((refused.object["error"] as? [String: Any])?["message"] as? String ?? "").contains("tuner"), "\(refused.object)")

        // Load: two clients per replica, each recording the snapshot that answered and any failure.
        let loads = replicas.map { QueryLoad($0) { ServerLifecycleTests.query } }
        var finished: [(snapshots: [String], failures: [String])]?
        defer { if finished == nil { loads.forEach { _ = $0.finish() } } }

        let pushed = try tuner.request("POST", "/v1/tasks", json: ServerLifecycleTests.push("redness", answer: "red"))
        let jobId = try XCTUnwrap(pushed.object["job_id"] as? String, "\(pushed.object)")
        let job = try tuner.waitForJob(jobId)
        XCTAssertEqual(job["promoted"] as? Bool, true, "\(job)")
        let tuned = try XCTUnwrap(job["snapshot"] as? String)

        func servedBy(_ replica: MnemeProcess) throws -> String? {
            try replica.request("POST", "/v1/answer", json: ServerLifecycleTests.query).object["snapshot"] as? String
        }
        for replica in replicas {
            try eventually(15, "replica did not follow the promotion") { try servedBy(replica) == tuned }
            let forced = try replica.request("POST", "/v1/answer", json: ServerLifecycleTests.query.merging(["task": "redness"]) { $1 })
            XCTAssertEqual(forced.object["answer"] as? String, "red", "\(forced.object)")
        }

        XCTAssertEqual(try tuner.request("POST", "/v1/rollback").object["active"] as? String, base)
        for replica in replicas {
            try eventually(15, "replica did not follow the rollback") { try servedBy(replica) == base }
        }

        finished = loads.map { $0.finish() }
        for (index, load) in finished!.enumerated() {
            XCTAssertEqual(load.failures, [], "requests to replica \(index) failed under load")
            XCTAssertTrue(load.snapshots.contains(tuned), "replica \(index) served the new snapshot under load")
            XCTAssertEqual(load.snapshots.last, base, "replica \(index) ended on the rolled-back snapshot")
            XCTAssertGreaterThan(load.snapshots.count, 10)
        }
        replicas.forEach { $0.stop() }
        tuner.stop()
    }
}
