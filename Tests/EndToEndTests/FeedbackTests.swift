import Foundation
import TestSupport
import XCTest

/// Feedback on answers through the real binary: every answer has a query id; a judgement is stored durably once
/// per answer, and the snapshots' online accuracy counts it.
final class FeedbackTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-feedback-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    private func code(_ object: [String: Any]) -> String? { (object["error"] as? [String: Any])?["code"] as? String }

    func testFeedbackIsKeptOncePerAnswerSurvivesAKillAndCountsOnline() throws {
        let data = scratch.appendingPathComponent("data")
        var server = try MnemeProcess(data: data)
        let asked = try server.request("POST", "/v1/answer", json: ServerLifecycleTests.query)
        XCTAssertEqual(asked.status, 200)
        let query = try XCTUnwrap(asked.object["query_id"] as? String, "\(asked.object)")
        let snapshot = try XCTUnwrap(asked.object["snapshot"] as? String)
        let other = try XCTUnwrap(server.request("POST", "/v1/answer", json: ServerLifecycleTests.query).object["query_id"] as? String)
        XCTAssertNotEqual(query, other, "each answer has its own id")

        let judged = try server.request("POST", "/v1/feedback", json: ["query_id": query, "correct": false, "answer": " crimson "])
        XCTAssertEqual(judged.status, 201, "\(judged.object)")
        XCTAssertEqual(judged.object["correction"] as? String, "crimson", "the right answer, checked and trimmed like a pushed one")
        XCTAssertEqual(judged.object["question"] as? String, "What colour is it?")
        let again = try server.request("POST", "/v1/feedback", json: ["query_id": query, "correct": false, "answer": "crimson"])
        XCTAssertEqual(again.status, 200, "the same judgement again is a repeat, not an error")
        XCTAssertEqual(again.object["repeated"] as? Bool, true)
        let contradicting = try server.request("POST", "/v1/feedback", json: ["query_id": query, "correct": true])
        XCTAssertEqual(contradicting.status, 409)
        XCTAssertEqual(code(contradicting.object), "feedback_exists")
        XCTAssertEqual(code(try server.request("POST", "/v1/feedback", json: ["query_id": "q-nope", "correct": true]).object), "unknown_query")
        XCTAssertEqual(code(try server.request("POST", "/v1/feedback", json: ["query_id": other, "correct": true, "answer": "red"]).object),
                       "invalid_field", "a correction belongs to a wrong answer")
        XCTAssertEqual(try server.request("POST", "/v1/feedback", json: ["query_id": other, "correct": true]).status, 201)

        let online = try XCTUnwrap((try server.request("GET", "/v1/snapshots").object["snapshots"] as? [[String: Any]])?
            .first { $0["id"] as? String == snapshot }?["online"] as? [String: Any])
        let base = try XCTUnwrap(online["base"] as? [String: Any], "\(online)")
        XCTAssertEqual(base["answers"] as? Int, 2)
        XCTAssertEqual(base["feedback"] as? Int, 2)
        XCTAssertEqual(base["correct"] as? Int, 1)
        XCTAssertEqual(base["accuracy"] as? Double, 0.5)
        XCTAssertLessThan(base["low"] as? Double ?? 1, 0.5)
        XCTAssertGreaterThan(base["high"] as? Double ?? 0, 0.5)

        // Acknowledged feedback survives a kill; the query it was on is no longer held (it lived in memory).
        let third = try XCTUnwrap(server.request("POST", "/v1/answer", json: ServerLifecycleTests.query).object["query_id"] as? String)
        server.crash()
        server = try MnemeProcess(data: data)
        let kept = try server.request("GET", "/v1/feedback?snapshot=\(snapshot)").object["feedback"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(kept.compactMap { $0["query_id"] as? String }), [query, other])
        XCTAssertTrue(FileManager.default.fileExists(atPath: data.appendingPathComponent("feedback/\(query)/image.png").path),
                      "the query's image is kept with its judgement, a labelled item")
        let expired = try server.request("POST", "/v1/feedback", json: ["query_id": third, "correct": true])
        XCTAssertEqual(expired.status, 410, "\(expired.object)")
        XCTAssertEqual(code(expired.object), "query_expired")
        XCTAssertEqual(try server.request("POST", "/v1/feedback", json: ["query_id": query, "correct": false, "answer": "crimson"]).status, 200,
                       "a repeat is answered from the store after a restart too")
        server.stop()
    }

    /// A canary takes its share of unpinned queries (the same clients every time), and the rule decides on online
    /// accuracy: a candidate judged better is completed (promoted); one judged worse is rolled back. No request fails.
    func testCanariesAreCompletedWhenBetterAndRolledBackWhenWorse() throws {
        let server = try MnemeProcess(data: scratch.appendingPathComponent("data"), arguments: ["--max-epochs", "20"])
        let base = try XCTUnwrap(server.request("GET", "/v1/snapshots").object["active"] as? String)
        let pushed = try server.request("POST", "/v1/tasks", json: ServerLifecycleTests.push("redness", answer: "red"))
        let tuned = try XCTUnwrap(server.waitForJob(try XCTUnwrap(pushed.object["job_id"] as? String))["snapshot"] as? String)
        XCTAssertEqual(try server.request("GET", "/v1/snapshots").object["active"] as? String, tuned)

        /// Asks as `client` and judges the answer right when it came from `good`.
        func askAndJudge(_ client: String, good: String) throws -> String {
            let asked = try server.request("POST", "/v1/answer", json: ServerLifecycleTests.query, headers: ["X-Client-Key": client])
            XCTAssertEqual(asked.status, 200, "\(asked.object)")
            let snapshot = try XCTUnwrap(asked.object["snapshot"] as? String)
            let judged = try server.request("POST", "/v1/feedback", json: ["query_id": asked.object["query_id"] as? String ?? "", "correct": snapshot == good])
            XCTAssertEqual(judged.status, 201, "\(judged.object)")
            return snapshot
        }

        // The base model as a 50% canary, judged better: completed.
        let started = try server.request("POST", "/v1/promote", json: ["snapshot": base, "traffic": 0.5])
        XCTAssertEqual(started.status, 202, "\(started.object)")
        XCTAssertEqual(try server.request("POST", "/v1/promote", json: ["snapshot": base, "traffic": 0.2]).status, 409, "one canary at a time")
        var seen: [String: String] = [:]
        for round in 0 ..< 200 where try server.request("GET", "/v1/canary").object["canary"] is [String: Any] {
            let client = "client-\(round % 30)"
            let snapshot = try askAndJudge(client, good: base)
            if let earlier = seen[client] { XCTAssertEqual(snapshot, earlier, "a client keeps its snapshot during a canary") }
            seen[client] = snapshot
        }
        XCTAssertEqual(Set(seen.values), [base, tuned], "both snapshots served their share")
        var canary = try server.request("GET", "/v1/canary").object
        XCTAssertTrue(canary["canary"] is NSNull, "\(canary)")
        var decision = try XCTUnwrap((canary["decisions"] as? [[String: Any]])?.last)
        XCTAssertEqual(decision["action"] as? String, "completed", "\(decision)")
        XCTAssertTrue((decision["reason"] as? String ?? "").contains("better"), "\(decision)")
        XCTAssertGreaterThanOrEqual((decision["candidate_stats"] as? [String: Any])?["feedback"] as? Int ?? 0, 20)
        XCTAssertEqual(try server.request("GET", "/v1/snapshots").object["active"] as? String, base)

        // The tuned snapshot as a canary against the base, judged worse: rolled back, the base keeps the traffic.
        XCTAssertEqual(try server.request("POST", "/v1/promote", json: ["snapshot": tuned, "traffic": 0.5]).status, 202)
        for round in 0 ..< 200 where try server.request("GET", "/v1/canary").object["canary"] is [String: Any] {
            _ = try askAndJudge("other-\(round % 40)", good: base)
        }
        canary = try server.request("GET", "/v1/canary").object
        decision = try XCTUnwrap((canary["decisions"] as? [[String: Any]])?.last)
        XCTAssertEqual(decision["action"] as? String, "rolled_back", "\(decision)")
        XCTAssertTrue((decision["reason"] as? String ?? "").contains("worse"), "\(decision)")
        XCTAssertEqual(try server.request("GET", "/v1/snapshots").object["active"] as? String, base)
        let after = try server.request("POST", "/v1/answer", json: ServerLifecycleTests.query, headers: ["X-Client-Key": "other-1"])
        XCTAssertEqual(after.object["snapshot"] as? String, base, "after a rollback every query gets the active snapshot")

        // Shadow mode, without feedback: the tuned snapshot answers every query too, unseen, and how often it agrees is kept.
        XCTAssertEqual(try server.request("POST", "/v1/promote", json: ["snapshot": tuned, "traffic": 0, "shadow": 1]).status, 202)
        for index in 0 ..< 10 {
            let asked = try server.request("POST", "/v1/answer", json: ServerLifecycleTests.query, headers: ["X-Client-Key": "s-\(index)"])
            XCTAssertEqual(asked.object["snapshot"] as? String, base, "a shadow serves no client")
        }
        try eventually(10, "the shadow answers were not compared") {
            let shadow = (try server.request("GET", "/v1/canary").object["canary"] as? [String: Any])?["agreement"] as? [String: [String: Any]]
            let compared = shadow?.values.reduce(0) { $0 + ($1["compared"] as? Int ?? 0) } ?? 0
            // Every sample, unless more than four were in flight at once (then some are skipped, by design).
            return compared >= 5 && compared <= 10
        }
        XCTAssertEqual(try server.request("DELETE", "/v1/canary").status, 200)
        server.stop()
    }

    /// Learning from use, end to end: a user corrects the base model's answers to a question it does not know;
    /// at the threshold the corrections become a task by themselves, its snapshot enters as a 20% canary, wins
    /// on the user's feedback and is completed. No request fails.
    func testCorrectionsBecomeATaskWhoseSnapshotEarnsItsTraffic() throws {
        let server = try MnemeProcess(data: scratch.appendingPathComponent("data"),
                                      arguments: ["--max-epochs", "40", "--corrections-threshold", "16", "--feedback-canary", "0.2"])
        let base = try XCTUnwrap(server.request("GET", "/v1/snapshots").object["active"] as? String)
        let question = "Which team paints with this?"
        func query(_ index: Int) -> [String: Any] {
            ["image": ServerLifecycleTests.png(red: UInt8(150 + index * 3 % 100), green: UInt8(index % 40), blue: 30).base64EncodedString(),
             "question": question]
        }
        var failures = 0
        /// Asks, and judges as the user would: right only when the answer is "blue team".
        func askAndJudge(_ index: Int, client: String? = nil, correct: Bool = true) throws -> (snapshot: String, answer: String) {
            let asked = try server.request("POST", "/v1/answer", json: query(index), headers: client.map { ["X-Client-Key": $0] } ?? [:])
            if asked.status != 200 { failures += 1 }
            let answer = asked.object["answer"] as? String ?? ""
            var judgement: [String: Any] = ["query_id": asked.object["query_id"] as? String ?? "", "correct": answer == "blue team"]
            if answer != "blue team", correct { judgement["answer"] = "blue team" }
            let judged = try server.request("POST", "/v1/feedback", json: judgement)
            if judged.status != 201 { failures += 1 }
            return (asked.object["snapshot"] as? String ?? "", answer)
        }
        for index in 0 ..< 16 { XCTAssertNotEqual(try askAndJudge(index).answer, "blue team", "the base model does not know it") }
        let job = try XCTUnwrap((try server.request("GET", "/v1/jobs").object["jobs"] as? [[String: Any]])?.first, "16 corrections started a job")
        XCTAssertEqual(job["task"] as? String, "from-feedback-1")
        let learnedFrom = try XCTUnwrap(job["from_feedback"] as? [String: Any], "the job shows what it learns from")
        XCTAssertEqual(learnedFrom["corrections"] as? Int, 16)
        XCTAssertEqual(learnedFrom["judged_right"] as? Int, 0)
        let finished = try server.waitForJob(try XCTUnwrap(job["id"] as? String))
        let candidate = try XCTUnwrap(finished["snapshot"] as? String, "\(finished)")
        let canary = try XCTUnwrap(server.request("GET", "/v1/canary").object["canary"] as? [String: Any], "the new snapshot entered as a canary")
        XCTAssertEqual(canary["candidate"] as? String, candidate)
        XCTAssertEqual(canary["traffic"] as? Double, 0.2)
        XCTAssertEqual(try server.request("GET", "/v1/snapshots").object["active"] as? String, base, "not promoted at once")

        // The user goes on asking (and judging); the canary's share answers right, the rule completes it.
        var served: Set<String> = []
        for index in 0 ..< 400 where try server.request("GET", "/v1/canary").object["canary"] is [String: Any] {
            served.insert(try askAndJudge(index, client: "user-\(index % 100)", correct: false).snapshot)
        }
        XCTAssertEqual(served, [base, candidate])
        let decision = try XCTUnwrap((try server.request("GET", "/v1/canary").object["decisions"] as? [[String: Any]])?.last)
        XCTAssertEqual(decision["action"] as? String, "completed", "\(decision)")
        XCTAssertEqual(try server.request("GET", "/v1/snapshots").object["active"] as? String, candidate)
        XCTAssertEqual(try askAndJudge(7).answer, "blue team", "the promoted snapshot learned from the corrections")
        XCTAssertEqual(failures, 0)
        server.stop()
    }

    /// Corrections to a task the active snapshot learned continue that task: at the threshold a revision job
    /// starts by itself, trains the task's adapter further on its items plus the corrections (the job says how
    /// many of each), passes the same gate as a push, and its snapshot enters as a canary; completed, it answers
    /// the corrected questions right, keeps what the task knew, and the task list does not grow.
    func testCorrectionsToALearnedTaskContinueIt() throws {
        let server = try MnemeProcess(data: scratch.appendingPathComponent("data"),
                                      arguments: ["--max-epochs", "40", "--corrections-threshold", "16", "--feedback-canary", "0.2"])
        var push = ServerLifecycleTests.push("team", answer: "red team", items: 40)
        push["eval_fraction"] = 0.25
        let pushed = try server.request("POST", "/v1/tasks", json: push)
        XCTAssertEqual(pushed.status, 202, "\(pushed.object)")
        let first = try server.waitForJob(try XCTUnwrap(pushed.object["job_id"] as? String))
        XCTAssertEqual(first["promoted"] as? Bool, true, "\(first)")
        let learned = try XCTUnwrap(first["snapshot"] as? String)

        func bluish(_ index: Int) -> [String: Any] {
            ["image": ServerLifecycleTests.png(red: 20, green: UInt8(index % 40), blue: UInt8(170 + index * 3 % 80)).base64EncodedString(),
             "question": "What colour is it?"]
        }
        var failures = 0
        for index in 0 ..< 16 {
            let asked = try server.request("POST", "/v1/answer", json: bluish(index))
            if asked.status != 200 { failures += 1 }
            XCTAssertEqual(asked.object["task"] as? String, "team", "the question is routed to the learned task")
            XCTAssertNotEqual(asked.object["answer"] as? String, "blue team")
            let judged = try server.request("POST", "/v1/feedback",
                                            json: ["query_id": asked.object["query_id"] as? String ?? "", "correct": false, "answer": "blue team"])
            if judged.status != 201 { failures += 1 }
        }
        let jobs = try XCTUnwrap(server.request("GET", "/v1/jobs").object["jobs"] as? [[String: Any]])
        let job = try XCTUnwrap(jobs.first { $0["id"] as? String != first["id"] as? String }, "16 corrections started a job: \(jobs)")
        XCTAssertEqual(job["task"] as? String, "team", "a revision keeps the task's name")
        XCTAssertEqual((job["from_feedback"] as? [String: Any])?["corrections"] as? Int, 16)
        let revises = try XCTUnwrap(job["revises"] as? [String: Any], "the job shows the task it continues: \(job)")
        XCTAssertEqual(revises["training_items"] as? Int, 20, "and how many of the task's own items it learns from")
        XCTAssertEqual(revises["task_id"] as? String, pushed.object["task_id"] as? String)

        let finished = try server.waitForJob(try XCTUnwrap(job["id"] as? String))
        let candidate = try XCTUnwrap(finished["snapshot"] as? String, "\(finished)")
        XCTAssertEqual((try server.request("GET", "/v1/canary").object["canary"] as? [String: Any])?["candidate"] as? String, candidate,
                       "the revision entered as a canary: \(finished)")
        XCTAssertEqual(try server.request("POST", "/v1/canary/complete").status, 200)
        let snapshots = try XCTUnwrap(server.request("GET", "/v1/snapshots").object["snapshots"] as? [[String: Any]])
        let revised = try XCTUnwrap(snapshots.first { $0["id"] as? String == candidate })
        XCTAssertEqual(revised["tasks"] as? [String], ["team"], "the task list does not grow: \(revised)")
        XCTAssertEqual(revised["parent"] as? String, learned)

        for index in [3, 20, 33] {
            let asked = try server.request("POST", "/v1/answer", json: bluish(index))
            XCTAssertEqual(asked.object["answer"] as? String, "blue team", "learned from the corrections: \(asked.object)")
            XCTAssertEqual(asked.object["snapshot"] as? String, candidate)
        }
        var reddish = ServerLifecycleTests.query
        reddish["max_new_tokens"] = nil
        XCTAssertEqual(try server.request("POST", "/v1/answer", json: reddish).object["answer"] as? String, "red team", "and kept what it knew")
        XCTAssertEqual(failures, 0)
        server.stop()
    }

    /// A replica splits its unpinned traffic as the tuner does (the registry carries the canary), each client to
    /// the same snapshot on both, sends feedback on its answers to the tuner (`--tuner-url`), and goes back to the
    /// active snapshot alone when the canary ends.
    func testReplicasFollowTheCanarysSplit() throws {
        let data = scratch.appendingPathComponent("data")
        let tuner = try MnemeProcess(data: data, arguments: ["--role", "tuner", "--max-epochs", "20"])
        let base = try XCTUnwrap(tuner.request("GET", "/v1/snapshots").object["active"] as? String)
        let pushed = try tuner.request("POST", "/v1/tasks", json: ServerLifecycleTests.push("redness", answer: "red"))
        let tuned = try XCTUnwrap(tuner.waitForJob(try XCTUnwrap(pushed.object["job_id"] as? String))["snapshot"] as? String)
        let replica = try MnemeProcess(data: data, arguments: ["--role", "replica", "--tuner-url", "127.0.0.1:\(tuner.port)"])
        XCTAssertEqual(try tuner.request("POST", "/v1/promote", json: ["snapshot": base, "traffic": 0.5]).status, 202)

        func served(_ server: MnemeProcess, _ client: String) throws -> String {
            try XCTUnwrap(server.request("POST", "/v1/answer", json: ServerLifecycleTests.query, headers: ["X-Client-Key": client]).object["snapshot"] as? String)
        }
        try eventually(10, "the replica never split its traffic") { try (0 ..< 20).map { try served(replica, "c\($0)") }.contains(base) }
        for index in 0 ..< 20 {
            XCTAssertEqual(try served(replica, "c\(index)"), try served(tuner, "c\(index)"), "client c\(index) gets one snapshot on both")
        }
        XCTAssertEqual(Set(try (0 ..< 20).map { try served(replica, "c\($0)") }), [base, tuned])

        // Feedback on a replica's answer reaches the tuner with the query, and counts in the canary there.
        let asked = try replica.request("POST", "/v1/answer", json: ServerLifecycleTests.query, headers: ["X-Client-Key": "c1"])
        let query = try XCTUnwrap(asked.object["query_id"] as? String)
        let judged = try replica.request("POST", "/v1/feedback", json: ["query_id": query, "correct": false, "answer": "scarlet"])
        XCTAssertEqual(judged.status, 201, "\(judged.object)")
        let kept = try tuner.request("GET", "/v1/feedback").object["feedback"] as? [[String: Any]] ?? []
        let record = try XCTUnwrap(kept.first { $0["query_id"] as? String == query }, "the tuner stored the replica's feedback")
        XCTAssertEqual(record["correction"] as? String, "scarlet")
        XCTAssertEqual(record["snapshot"] as? String, asked.object["snapshot"] as? String)
        XCTAssertTrue(FileManager.default.fileExists(atPath: data.appendingPathComponent("feedback/\(query)/image.png").path))
        let stats = (try tuner.request("GET", "/v1/canary").object["canary"] as? [String: Any])?[
            asked.object["snapshot"] as? String == base ? "candidate_stats" : "active_stats"] as? [String: Any]
        XCTAssertEqual(stats?["feedback"] as? Int, 1, "it counts in the tuner's canary")
        XCTAssertEqual(try replica.request("POST", "/v1/feedback", json: ["query_id": query, "correct": false, "answer": "scarlet"]).status, 200,
                       "a repeat, answered by the tuner")

        XCTAssertEqual(try tuner.request("DELETE", "/v1/canary").status, 200)
        try eventually(10, "the replica kept splitting") { try (0 ..< 20).allSatisfy { try served(replica, "c\($0)") == tuned } }
        replica.stop()
        tuner.stop()
    }
}
