import Foundation
import XCTest
@testable import Store

final class TaskStoreTests: XCTestCase {
    func testPushWritesItemsImagesManifestAndQueuedJob() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        var items = Samples.items(120, seed: 7)
        items[3].image = Samples.jpeg()
        let (task, job) = try store.createTask(name: "  colours ", items: items, evalFraction: 0.1, strategy: "replay")

        // The task directory, read back with plain JSON and file APIs rather than through the store.
        let directory = scratch.data.appendingPathComponent("tasks").appendingPathComponent(task.id)
        let lines = try String(contentsOf: directory.appendingPathComponent("data.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        XCTAssertEqual(lines.count, 120)
        for (index, line) in lines.enumerated() {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            XCTAssertEqual(Set(object.keys), ["image", "question", "answer"])
            XCTAssertEqual(object["question"], items[index].question)
            XCTAssertEqual(object["answer"], items[index].answer)
            let image = try Data(contentsOf: directory.appendingPathComponent(try XCTUnwrap(object["image"])))
            XCTAssertEqual(image, items[index].image)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("images/000003.jpg").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("images/000004.png").path))

        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("manifest.json"))) as? [String: Any])
        XCTAssertEqual(manifest["name"] as? String, "colours")
        XCTAssertEqual(manifest["items"] as? Int, 120)
        XCTAssertEqual(manifest["strategy"] as? String, "replay")
        XCTAssertEqual(manifest["job_id"] as? String, job.id)
        XCTAssertEqual((manifest["content_hash"] as? String)?.count, 64)
        let created = try XCTUnwrap(manifest["created_at"] as? String)
        XCTAssertNotNil(try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(created), created)
        XCTAssertTrue(created.hasSuffix("Z"))
        let train = try XCTUnwrap(manifest["train"] as? [Int]), eval = try XCTUnwrap(manifest["eval"] as? [Int])
        XCTAssertEqual(eval.count, 50, "10% of 120 is 12, raised to the minimum of 50")
        XCTAssertEqual(Set(train).union(eval), Set(0..<120))
        XCTAssertTrue(Set(train).isDisjoint(with: eval))
        XCTAssertEqual(train, train.sorted())

        let jobObject = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: scratch.data.appendingPathComponent("jobs/\(job.id).json"))) as? [String: Any])
        XCTAssertEqual(jobObject["state"] as? String, "queued")
        XCTAssertEqual(jobObject["task_id"] as? String, task.id)
        XCTAssertEqual(jobObject["strategy"] as? String, "replay")

        // No temporaries left behind by a successful push.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.data.appendingPathComponent("tasks").path), [task.id])
    }

    func testItemsReadBackThroughTheStore() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        let items = Samples.items(9, seed: 3)
        let (task, _) = try store.createTask(name: "shapes", items: items)
        let stored = try store.items(ofTask: task.id)
        XCTAssertEqual(stored.map(\.question), items.map(\.question))
        XCTAssertEqual(stored.map(\.answer), items.map(\.answer))
        XCTAssertEqual(try stored.map { try $0.imageData() }, items.map(\.image))
        XCTAssertEqual(stored.map(\.index), Array(0..<9))
        XCTAssertEqual(try store.taskDirectory(task.id).lastPathComponent, task.id)
    }

    func testReopenedStoreSeesTheSameState() throws {
        let scratch = try Scratch()
        var first: Store? = try Store(directory: scratch.data)
        let (a, jobA) = try first!.createTask(name: "a", items: Samples.items(5, seed: 1))
        let (b, _) = try first!.createTask(name: "b", items: Samples.items(70, seed: 2), evalFraction: 0.2)
        try first!.startJob(jobA.id)
        try first!.updateProgress(jobA.id, JobProgress(step: 3, total: 10, loss: 1.25, etaSeconds: 4))
        try first!.failJob(jobA.id, reason: "out of memory")
        let draft = try first!.beginSnapshot(parent: nil)
        let snapshot = try first!.commit(draft, SnapshotDetails(kind: .base))
        try first!.promote(snapshot.id)
        let tasks = try first!.tasks(), jobs = try first!.jobs(), registry = try first!.registry()
        first = nil

        let reopened = try Store(directory: scratch.data)
        XCTAssertTrue(reopened.openingRecovery.isEmpty, "\(reopened.openingRecovery)")
        XCTAssertEqual(try reopened.tasks(), tasks)
        XCTAssertEqual(tasks.map(\.id), [a.id, b.id])
        XCTAssertEqual(try reopened.jobs(), jobs)
        XCTAssertEqual(try reopened.job(jobA.id).state, .failed)
        XCTAssertEqual(try reopened.job(jobA.id).error, "out of memory")
        XCTAssertEqual(try reopened.registry(), registry)
        XCTAssertEqual(try reopened.snapshots(), [snapshot])
        XCTAssertEqual(try reopened.task(b.id).evalCount, 35, "20% is 14, raised towards 50 but capped at half")
    }

    func testRejectsBadPushesAndUnknownIds() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        XCTAssertStoreError(try store.createTask(name: " ", items: Samples.items(2)), .invalidArgument("a task needs a non-empty name"))
        XCTAssertStoreError(try store.createTask(name: "x", items: []), .invalidArgument("task 'x' has no items"))
        XCTAssertThrowsError(try store.createTask(name: "x", items: Samples.items(2), evalFraction: 1))
        XCTAssertThrowsError(try store.createTask(name: "x", items: Samples.items(2), evalFraction: -0.1))
        for id in ["t-nope", "../registry", "..", ".lock", "a/b", ""] {
            XCTAssertStoreError(try store.task(id), .unknownTask(id))
            XCTAssertStoreError(try store.job(id), .unknownJob(id))
            XCTAssertStoreError(try store.snapshot(id), .unknownSnapshot(id))
        }
        XCTAssertEqual(try store.tasks(), [])
    }

    /// A revision names the task it continues and keeps its name; the chain of revisions reads back oldest
    /// first, and a revised task cannot be deleted from under its revision.
    func testRevisionsChainToTheTaskTheyContinue() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        let (original, originalJob) = try store.createTask(name: "colours", items: Samples.items(10, seed: 1))
        XCTAssertStoreError(try store.createTask(name: "shapes", items: Samples.items(4, seed: 2), revises: original.id),
                            .invalidArgument("a revision keeps the name of the task it continues (colours), not 'shapes'"))
        XCTAssertStoreError(try store.createTask(name: "colours", items: Samples.items(4, seed: 2), revises: "t-nope"), .unknownTask("t-nope"))
        let (first, firstJob) = try store.createTask(name: "colours", items: Samples.items(4, seed: 2), revises: original.id)
        let (second, _) = try store.createTask(name: "colours", items: Samples.items(4, seed: 3), revises: first.id)
        XCTAssertEqual(try store.taskChain(second.id).map(\.id), [original.id, first.id, second.id])
        XCTAssertEqual(try Store(directory: scratch.data).task(second.id).revises, first.id, "recorded in the manifest")
        for job in [originalJob, firstJob] { _ = try store.failJob(job.id, reason: "test") }
        XCTAssertStoreError(try store.deleteTask(original.id), .inUse("task colours is continued by its revision \(first.id); delete that first"))
    }

    func testSplitSizes() {
        // (items, fraction) → held out: at least 50 when that leaves at least half for training.
        let cases: [(Int, Double, Int)] = [(1, 0.1, 0), (2, 0.1, 1), (10, 0.1, 5), (100, 0.1, 50), (101, 0.1, 50),
                                           (499, 0.1, 50), (501, 0.1, 51), (1000, 0.1, 100), (1000, 0.3, 300),
                                           (40, 0.9, 36), (60, 0, 0), (3, 0.5, 2)]
        for (count, fraction, expected) in cases {
            XCTAssertEqual(TaskSplit.evalCount(items: count, fraction: fraction), expected, "\(count) × \(fraction)")
        }
    }

    func testSplitIsDeterministicAndSeeded() {
        let a = TaskSplit.split(items: 200, fraction: 0.1, seed: 42)
        XCTAssertEqual(a.train.count + a.eval.count, 200)
        XCTAssertEqual(Set(a.train + a.eval).count, 200)
        XCTAssertTrue(a.train == TaskSplit.split(items: 200, fraction: 0.1, seed: 42).train)
        XCTAssertNotEqual(a.eval, TaskSplit.split(items: 200, fraction: 0.1, seed: 43).eval)
        XCTAssertNotEqual(a.eval, Array(0..<50), "held-out items are spread, not the first ones")
    }

    func testSameItemsHashAndSplitTheSameUnderAnotherName() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        let (one, _) = try store.createTask(name: "one", items: Samples.items(80, seed: 5))
        let (two, _) = try store.createTask(name: "two", items: Samples.items(80, seed: 5))
        let (three, _) = try store.createTask(name: "three", items: Samples.items(80, seed: 6))
        XCTAssertNotEqual(one.id, two.id)
        XCTAssertEqual(one.contentHash, two.contentHash)
        XCTAssertEqual(one.evalIndices, two.evalIndices)
        XCTAssertNotEqual(one.contentHash, three.contentHash)
    }

    func testTimesRoundTripExactlyThroughTheirText() {
        for offset in stride(from: 0.0, to: 3.0, by: 0.0137) {
            let date = Date(timeIntervalSince1970: 1_763_877_184 + offset)
            let text = StoreJSON.string(from: date)
            XCTAssertTrue(text.range(of: #"^2025-11-23T05:53:0\d\.\d{3}Z$"#, options: .regularExpression) != nil, text)
            let parsed = try? XCTUnwrap(StoreJSON.date(from: text))
            XCTAssertEqual(parsed.map(StoreJSON.string(from:)), text)
            XCTAssertEqual(parsed.flatMap { StoreJSON.date(from: StoreJSON.string(from: $0)) }, parsed)
            XCTAssertEqual(abs((parsed?.timeIntervalSince1970 ?? 0) - date.timeIntervalSince1970), 0, accuracy: 0.000501)
        }
        XCTAssertEqual(StoreJSON.date(from: "2025-11-23T05:53:04Z")?.timeIntervalSince1970, 1_763_877_184)
    }

    func testIdentifiersSortInCreationOrderAndAreURLSafe() {
        let ids = (0..<500).map { _ in StoreID.make(.task) }
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, ids.count)
        for id in ids.prefix(20) {
            XCTAssertTrue(id.range(of: #"^t-\d{8}-\d{9}-[0-9a-z]{5}$"#, options: .regularExpression) != nil, id)
            XCTAssertTrue(StoreID.isValid(id))
        }
        XCTAssertEqual(StoreID.timestamp(4_000_000_000_500), "20961002-070640500")  // 2096-10-02T07:06:40.5Z
        XCTAssertEqual(StoreID.timestamp(0), "19700101-000000000")
    }
}
