import Foundation
import Imaging
import TestSupport
import XCTest

/// The real binary on loopback with the tiny fixture model: a push is tuned into a new snapshot that answers
/// differently, compare shows both, rollback restores; bad input gets 4xx and the server keeps answering.
final class ServerLifecycleTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    static func png(red: UInt8, green: UInt8, blue: UInt8, size: Int = 32) -> Data {
        PNGEncoder.encode(RGBImage(width: size, height: size, red: red, green: green, blue: blue))
    }

    /// A task whose every answer is `answer`, on images of varied reddish colours.
    static func push(_ name: String, answer: String, items: Int = 24, strategy: String? = nil) -> [String: Any] {
        var body: [String: Any] = [
            "name": name, "eval_fraction": 0.25,
            "items": (0 ..< items).map { index in
                ["image": png(red: UInt8(truncatingIfNeeded: 180 + index), green: UInt8(truncatingIfNeeded: index * 3), blue: 20).base64EncodedString(),
                 "question": "What colour is it?", "answer": answer]
            },
        ]
        if let strategy { body["strategy"] = strategy }
        return body
    }

    static var query: [String: Any] { ["image": png(red: 200, green: 10, blue: 20).base64EncodedString(), "question": "What colour is it?",
                                       "max_new_tokens": 4] }

    func testPushTunesANewSnapshotThenCompareAndRollback() throws {
        let server = try MnemeProcess(data: scratch.appendingPathComponent("data"), arguments: ["--max-epochs", "25"])
        let before = try server.request("POST", "/v1/answer", json: Self.query)
        XCTAssertEqual(before.status, 200, "\(before.object)")
        let baseSnapshot = try XCTUnwrap(before.object["snapshot"] as? String)

        // Queries keep flowing through tuning and the hot swap; none may fail.
        let load = QueryLoad(server) { Self.query }
        let pushed = try server.request("POST", "/v1/tasks", json: Self.push("redness", answer: "red"))
        XCTAssertEqual(pushed.status, 202, "\(pushed.object)")
        let jobId = try XCTUnwrap(pushed.object["job_id"] as? String)
        let finished = try server.waitForJob(jobId)
        Thread.sleep(forTimeInterval: 0.3)
        let served = load.finish()
        XCTAssertEqual(served.failures, [], "requests failed during tuning or the swap")
        XCTAssertEqual(served.snapshots.first, baseSnapshot)
        XCTAssertEqual(served.snapshots.last, finished["snapshot"] as? String, "the load saw the swap")
        XCTAssertEqual(finished["state"] as? String, "done", "\(finished)")
        XCTAssertEqual(finished["promoted"] as? Bool, true, "\(finished)")
        let tuned = try XCTUnwrap(finished["snapshot"] as? String)
        XCTAssertNotEqual(tuned, baseSnapshot)
        // What it learned, on the task's 12 held-out items (half of 24: at least 50 are held out where half the items allow): too few to judge, so flagged and promoted on the gate alone.
        let outcome = try XCTUnwrap(finished["outcome"] as? [String: Any], "\(finished)")
        XCTAssertEqual((outcome["before"] as? [String: Any])?["items"] as? Int, 12)
        XCTAssertEqual((outcome["after"] as? [String: Any])?["items"] as? Int, 12)
        XCTAssertEqual((outcome["after"] as? [String: Any])?["small"] as? Bool, true)
        XCTAssertEqual(outcome["verdict"] as? String, "unmeasured")
        XCTAssertTrue((outcome["summary"] as? String ?? "").contains("too few to tell"), "\(outcome)")

        // The new snapshot answers the task it learned; the base model did not.
        let forced = Self.query.merging(["task": "redness"]) { $1 }
        let after = try server.request("POST", "/v1/answer", json: forced)
        XCTAssertEqual(after.status, 200, "\(after.object)")
        XCTAssertEqual(after.object["snapshot"] as? String, tuned)
        XCTAssertEqual(after.object["answer"] as? String, "red")
        XCTAssertNotEqual(before.object["answer"] as? String, "red")

        let snapshots = try server.request("GET", "/v1/snapshots").object
        XCTAssertEqual(snapshots["active"] as? String, tuned)
        let entry = (snapshots["snapshots"] as? [[String: Any]])?.first { $0["id"] as? String == tuned }
        XCTAssertNotNil((entry?["accuracy"] as? [String: Any])?["redness"], "\(snapshots)")
        XCTAssertEqual(entry?["strategy"] as? String, "branchlora")

        // A strategy that cannot continue the active snapshot's adapters is refused at push time.
        let conflicting = try server.request("POST", "/v1/tasks", json: Self.push("other", answer: "blue", strategy: "seq-lora"))
        XCTAssertEqual(conflicting.status, 409, "\(conflicting.object)")
        XCTAssertEqual((conflicting.object["error"] as? [String: Any])?["code"] as? String, "strategy_conflict")

        // A/B: both snapshots side by side.
        let compare = try server.request("POST", "/v1/compare", json: Self.query.merging(["snapshots": [baseSnapshot, tuned]]) { $1 })
        XCTAssertEqual(compare.status, 200, "\(compare.object)")
        let results = try XCTUnwrap(compare.object["results"] as? [[String: Any]])
        XCTAssertEqual(results.map { $0["snapshot"] as? String }, [baseSnapshot, tuned])
        XCTAssertEqual(results[0]["answer"] as? String, before.object["answer"] as? String)

        // Rollback restores the base model's answers.
        let rollback = try server.request("POST", "/v1/rollback")
        XCTAssertEqual(rollback.status, 200, "\(rollback.object)")
        XCTAssertEqual(rollback.object["active"] as? String, baseSnapshot)
        let restored = try server.request("POST", "/v1/answer", json: Self.query)
        XCTAssertEqual(restored.object["snapshot"] as? String, baseSnapshot)
        XCTAssertEqual(restored.object["answer"] as? String, before.object["answer"] as? String)
        // The rolled-back snapshot stays addressable.
        let named = try server.request("POST", "/v1/answer", json: forced.merging(["snapshot": tuned]) { $1 })
        XCTAssertEqual(named.object["answer"] as? String, "red", "\(named.object)")
        // And can be promoted again.
        XCTAssertEqual(try server.request("POST", "/v1/snapshots/\(tuned)/promote").object["active"] as? String, tuned)
        server.stop()
    }

    /// Answers that are a different word for every item carry nothing an image or question can teach: the job
    /// finishes, says in words that the task was not learned, and leaves the snapshot a candidate.
    func testAPushThatTeachesNothingIsNotPromotedAndSaysWhy() throws {
        let server = try MnemeProcess(data: scratch.appendingPathComponent("data"))
        var body = Self.push("noise", answer: "x", items: 80)
        body["items"] = (body["items"] as! [[String: Any]]).enumerated().map { index, item in
            item.merging(["answer": "word\((index * 37) % 80)"]) { $1 }
        }
        let pushed = try server.request("POST", "/v1/tasks", json: body)
        XCTAssertEqual(pushed.status, 202, "\(pushed.object)")
        let job = try server.waitForJob(try XCTUnwrap(pushed.object["job_id"] as? String))
        XCTAssertEqual(job["state"] as? String, "done", "\(job)")
        XCTAssertEqual(job["promoted"] as? Bool, false, "\(job)")
        let outcome = try XCTUnwrap(job["outcome"] as? [String: Any], "\(job)")
        XCTAssertEqual(outcome["verdict"] as? String, "not_learned", "\(outcome)")
        XCTAssertEqual((outcome["after"] as? [String: Any])?["items"] as? Int, 40)
        XCTAssertTrue((outcome["summary"] as? String ?? "").hasPrefix("not learned — noise:"), "\(outcome)")
        let snapshots = try server.request("GET", "/v1/snapshots").object
        let candidate = (snapshots["snapshots"] as? [[String: Any]])?.first { $0["id"] as? String == job["snapshot"] as? String }
        XCTAssertEqual(candidate?["candidate"] as? Bool, true)
        XCTAssertEqual(((candidate?["held_out"] as? [String: Any])?["noise"] as? [String: Any])?["items"] as? Int, 40)
        XCTAssertNotNil((candidate?["before"] as? [String: Any])?["noise"], "\(String(describing: candidate))")
        XCTAssertNotEqual(snapshots["active"] as? String, job["snapshot"] as? String)
        server.stop()
    }

    /// A second writer on the same data directory is refused with a clear message (the first one's lock dies
    /// with it), and a taken port is reported before anything is created.
    func testASecondWriterAndATakenPortAreRefusedBeforeAnythingIsTouched() throws {
        let data = scratch.appendingPathComponent("data")
        let first = try MnemeProcess(data: data)
        func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = try MnemeProcess.executable
            process.arguments = ["serve", "--model", MnemeProcess.fixtureModel.path] + arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        let second = try run(["--data", data.path, "--port", "0"])
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.output.contains("another mneme serve (pid \(first.process.processIdentifier)) is the writer"), second.output)
        let elsewhere = scratch.appendingPathComponent("other")
        let taken = try run(["--data", elsewhere.path, "--port", String(first.port)])
        XCTAssertNotEqual(taken.status, 0)
        XCTAssertTrue(taken.output.contains("cannot listen on 127.0.0.1:\(first.port)"), taken.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: elsewhere.path), "nothing was created")
        first.crash()
        let after = try MnemeProcess(data: data)  // a killed writer leaves no lock behind
        XCTAssertEqual(try after.request("GET", "/readyz").status, 200)
        after.stop()
    }

    /// Lifecycle: a running job and a queued one are cancelled and say so; the base, the active snapshot and the
    /// rollback target cannot be deleted; another snapshot can, and its disk space is shown before.
    func testJobsAreCancelledAndOldSnapshotsDeleted() throws {
        let server = try MnemeProcess(data: scratch.appendingPathComponent("data"), arguments: ["--max-epochs", "2000", "--check-every", "1000000"])
        let base = try XCTUnwrap(server.request("GET", "/v1/snapshots").object["active"] as? String)
        let running = try XCTUnwrap(server.request("POST", "/v1/tasks", json: Self.push("long", answer: "red")).object["job_id"] as? String)
        let pushedLater = try server.request("POST", "/v1/tasks", json: Self.push("later", answer: "red")).object
        let queued = try XCTUnwrap(pushedLater["job_id"] as? String)
        let laterTask = try XCTUnwrap(pushedLater["task_id"] as? String)
        XCTAssertEqual(try server.request("DELETE", "/v1/tasks/\(laterTask)").status, 409, "a task whose job is queued is kept")
        try eventually(60, "the first job never ran") { try server.request("GET", "/v1/jobs/\(running)").object["state"] as? String == "running" }
        XCTAssertEqual(try server.request("DELETE", "/v1/jobs/\(queued)").status, 202)
        XCTAssertEqual(try server.request("DELETE", "/v1/jobs/\(running)").status, 202)
        for id in [running, queued] {
            let job = try server.waitForJob(id, timeout: 60)
            XCTAssertEqual(job["state"] as? String, "failed", "\(job)")
            XCTAssertEqual(job["error"] as? String, "cancelled by the operator")
        }
        XCTAssertEqual(try server.request("DELETE", "/v1/jobs/\(running)").status, 409, "a finished job cannot be cancelled")
        // A task no snapshot learned, its job over: its data and job go, and its name is free again.
        XCTAssertEqual(try server.request("DELETE", "/v1/tasks/\(laterTask)").status, 200)
        XCTAssertEqual(try server.request("GET", "/v1/tasks/\(laterTask)").status, 404)
        XCTAssertEqual(try server.request("GET", "/v1/jobs/\(queued)").status, 404)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("data/tasks/\(laterTask)").path))

        server.stop()
        let quick = try MnemeProcess(data: scratch.appendingPathComponent("data"), arguments: ["--max-epochs", "20"])
        let first = try quick.waitForJob(try XCTUnwrap(quick.request("POST", "/v1/tasks", json: Self.push("first", answer: "red")).object["job_id"] as? String))
        let second = try quick.waitForJob(try XCTUnwrap(quick.request("POST", "/v1/tasks", json: Self.push("second", answer: "red")).object["job_id"] as? String))
        let (a, b) = (try XCTUnwrap(first["snapshot"] as? String), try XCTUnwrap(second["snapshot"] as? String))
        XCTAssertEqual(try quick.request("GET", "/v1/snapshots").object["active"] as? String, b)
        for (id, why) in [(base, "base"), (b, "active"), (a, "rollback target")] {
            let refused = try quick.request("DELETE", "/v1/snapshots/\(id)")
            XCTAssertEqual(refused.status, 409, "\(why): \(refused.object)")
        }
        let firstTask = try XCTUnwrap(quick.request("GET", "/v1/tasks").object["tasks"] as? [[String: Any]]).first { $0["name"] as? String == "first" }
        let learned = try quick.request("DELETE", "/v1/tasks/\(try XCTUnwrap(firstTask?["id"] as? String))")
        XCTAssertEqual(learned.status, 409, "a task a snapshot has learned is kept: \(learned.object)")
        XCTAssertEqual(try quick.request("POST", "/v1/snapshots/\(base)/promote").status, 200)
        let listed = try quick.request("GET", "/v1/snapshots").object["snapshots"] as? [[String: Any]] ?? []
        XCTAssertGreaterThan(listed.first { $0["id"] as? String == a }?["bytes"] as? Int ?? 0, 0, "each snapshot shows its size")
        XCTAssertEqual(try quick.request("DELETE", "/v1/snapshots/\(a)").status, 200, "no longer active nor the rollback target")
        XCTAssertEqual(try quick.request("GET", "/v1/snapshots/\(a)").status, 404)
        XCTAssertEqual(try quick.request("POST", "/v1/answer", json: Self.query.merging(["snapshot": a]) { $1 }).status, 404)
        quick.stop()
    }

    /// Retention (`--keep-snapshots`) runs after each new snapshot and after each promotion, sparing the active
    /// snapshot and the rollback target; the metrics show the snapshots on disk and their bytes.
    func testRetentionRunsAfterEachSnapshotAndPromotion() throws {
        let server = try MnemeProcess(data: scratch.appendingPathComponent("data"), arguments: ["--max-epochs", "20", "--keep-snapshots", "1"])
        let base = try XCTUnwrap(server.request("GET", "/v1/snapshots").object["active"] as? String)
        var tuned: [String] = []
        for (name, answer) in [("one", "red"), ("two", "red"), ("three", "red")] {
            let job = try server.waitForJob(try XCTUnwrap(server.request("POST", "/v1/tasks", json: Self.push(name, answer: answer)).object["job_id"] as? String))
            tuned.append(try XCTUnwrap(job["snapshot"] as? String, "\(job)"))
        }
        func ids() throws -> Set<String> {
            Set((try server.request("GET", "/v1/snapshots").object["snapshots"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String })
        }
        XCTAssertEqual(try ids(), [base, tuned[1], tuned[2]], "the oldest tuned one went; the rollback target stayed")
        XCTAssertEqual(try server.request("POST", "/v1/snapshots/\(base)/promote").status, 200)
        XCTAssertEqual(try ids(), [base, tuned[2]], "after the promotion only the newest tuned one (now the rollback target) is kept")
        let metrics = try server.request("GET", "/metrics").response.text
        XCTAssertTrue(metrics.contains("mneme_snapshots 2"), metrics)
        XCTAssertTrue(metrics.contains("mneme_snapshots_bytes "), metrics)
        server.stop()
    }

    func testAFailedPushCanBeRetriedUnderItsName() throws {
        let server = try MnemeProcess(data: scratch.appendingPathComponent("data"), arguments: ["--max-epochs", "2"])
        // Accepted while the base is active, it fails once the first task's branchlora snapshot is promoted.
        let first = try server.request("POST", "/v1/tasks", json: Self.push("first", answer: "red"))
        let second = try server.request("POST", "/v1/tasks", json: Self.push("second", answer: "blue", strategy: "seq-lora"))
        XCTAssertEqual(first.status, 202, "\(first.object)")
        XCTAssertEqual(second.status, 202, "\(second.object)")
        XCTAssertEqual(try server.waitForJob(first.object["job_id"] as! String)["state"] as? String, "done")
        let failed = try server.waitForJob(second.object["job_id"] as! String)
        XCTAssertEqual(failed["state"] as? String, "failed", "\(failed)")
        XCTAssertTrue((failed["error"] as? String ?? "").contains("branchlora"), "\(failed)")
        // The name is free again; the same name while queued or learned is not.
        let retried = try server.request("POST", "/v1/tasks", json: Self.push("second", answer: "blue"))
        XCTAssertEqual(retried.status, 202, "\(retried.object)")
        XCTAssertEqual(try server.request("POST", "/v1/tasks", json: Self.push("second", answer: "blue")).status, 409)
        XCTAssertEqual(try server.waitForJob(retried.object["job_id"] as! String)["state"] as? String, "done")
        server.stop()
    }

    func testBadInputGetsClientErrorsAndTheServerKeepsAnswering() throws {
        let server = try MnemeProcess(data: scratch.appendingPathComponent("data"))
        let images = MnemeProcess.repository.appendingPathComponent("Tests/Fixtures/images")
        let good = Self.png(red: 10, green: 200, blue: 10)
        let bomb = try Data(contentsOf: images.appendingPathComponent("bomb_100000x100000.png"))
        let jpegBomb = try Data(contentsOf: images.appendingPathComponent("bomb_65000x65000.jpg"))
        let corrupt = try Data(contentsOf: images.appendingPathComponent("bad_zlib.png"))
        let cases: [(String, Data, String, Int)] = [
            ("zero-byte image", Data(), "application/json", 400),
            ("truncated PNG", good.prefix(good.count / 2), "application/json", 400),
            ("corrupt PNG", corrupt, "application/json", 400),
            ("not an image", Data("%PDF-1.4 hello".utf8), "application/json", 400),
            ("PNG bomb", bomb, "application/json", 413),
            ("JPEG bomb", jpegBomb, "application/json", 413),
        ]
        for (label, image, _, status) in cases {
            let response = try server.request("POST", "/v1/answer", json: ["image": image.base64EncodedString(), "question": "What colour?"])
            XCTAssertEqual(response.status, status, "\(label): \(response.object)")
            XCTAssertNotNil((response.object["error"] as? [String: Any])?["message"] as? String, label)
        }
        let raw: [(String, Data, String, Int)] = [
            ("malformed JSON", Data("{\"image\": \"abc\", ".utf8), "application/json", 400),
            ("wrong type", try JSONSerialization.data(withJSONObject: ["image": 5, "question": "x"]), "application/json", 400),
            ("wrong content type", Data("hello".utf8), "text/plain", 415),
            ("deep JSON", Data((String(repeating: "[", count: 200) + String(repeating: "]", count: 200)).utf8), "application/json", 400),
            ("oversized body", Data(count: 65 << 20), "application/json", 413),
        ]
        for (label, body, type, status) in raw {
            let response = try server.request("POST", "/v1/answer", body: body, contentType: type)
            XCTAssertEqual(response.status, status, "\(label): \(response.response.text.prefix(300))")
        }
        XCTAssertEqual(try server.request("GET", "/v1/answer").status, 405)
        XCTAssertEqual(try server.request("GET", "/v1/snapshots/nope").status, 404)
        XCTAssertEqual(try server.request("GET", "/v1/jobs/nope").status, 404)
        XCTAssertEqual(try server.request("POST", "/v1/answer", json: Self.query.merging(["snapshot": "nope"]) { $1 }).status, 404)
        XCTAssertEqual(try server.request("POST", "/v1/tasks", json: ["name": "x", "items": [["image": "AAAA", "question": "q", "answer": "a"]]]).status, 400)

        // Still answering, and the error bodies were counted as client errors.
        let answer = try server.request("POST", "/v1/answer", json: Self.query)
        XCTAssertEqual(answer.status, 200, "\(answer.object)")
        let metrics = try server.request("GET", "/metrics").response.text
        XCTAssertTrue(metrics.contains("status=\"413\""), String(metrics.prefix(2000)))
        XCTAssertEqual(try server.request("GET", "/healthz").status, 200)
        XCTAssertEqual(try server.request("GET", "/openapi.json").status, 200)
        server.stop()
    }
}
