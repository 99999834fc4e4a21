import Foundation
import XCTest
@testable import Store

final class JobStoreTests: XCTestCase {
    func testHappyPathThroughTheStateMachine() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        let (task, queued) = try store.createTask(name: "t", items: Samples.items(4), strategy: "branchlora")
        XCTAssertEqual(queued.state, .queued)
        XCTAssertEqual(queued.taskId, task.id)
        XCTAssertEqual(queued.strategy, "branchlora")
        XCTAssertEqual(queued.attempts, 0)

        let running = try store.startJob(queued.id)
        XCTAssertEqual(running.state, .running)
        XCTAssertEqual(running.attempts, 1)
        XCTAssertEqual(running.owner, store.lease?.token)
        XCTAssertNotNil(running.startedAt)
        try store.updateProgress(queued.id, JobProgress(step: 5, total: 20, loss: 0.5, etaSeconds: 12))
        XCTAssertEqual(try store.job(queued.id).progress, JobProgress(step: 5, total: 20, loss: 0.5, etaSeconds: 12))
        try store.beginEvaluation(queued.id)
        try store.updateProgress(queued.id, JobProgress(step: 20, total: 20))
        let snapshot = try store.commit(try store.beginSnapshot(parent: nil), SnapshotDetails(kind: .tuned, jobId: queued.id))
        let done = try store.finishJob(queued.id, snapshot: snapshot.id, promoted: false)
        XCTAssertEqual(done.state, .done)
        XCTAssertEqual(done.snapshot, snapshot.id)
        XCTAssertEqual(done.promoted, false)
        XCTAssertNil(done.owner)
        XCTAssertNotNil(done.finishedAt)
        XCTAssertGreaterThanOrEqual(done.updatedAt, done.createdAt)

        // The on-disk keys the HTTP layer and other processes read.
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: scratch.data.appendingPathComponent("jobs/\(done.id).json"))) as? [String: Any])
        XCTAssertEqual(object["state"] as? String, "done")
        XCTAssertEqual(object["snapshot"] as? String, snapshot.id)
        XCTAssertEqual(object["promoted"] as? Bool, false)
        let progress = try XCTUnwrap(object["progress"] as? [String: Any])
        XCTAssertEqual(progress["step"] as? Int, 20)
        XCTAssertEqual(progress["total"] as? Int, 20)
    }

    func testEveryIllegalTransitionThrows() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        // Drive one job into each state, then try every operation on it.
        func job(in state: JobState) throws -> String {
            let (_, job) = try store.createTask(name: "t", items: Samples.items(2))
            if state == .queued { return job.id }
            if state == .failed { try store.failJob(job.id, reason: "x"); return job.id }
            try store.startJob(job.id)
            if state == .running { return job.id }
            try store.beginEvaluation(job.id)
            if state == .evaluating { return job.id }
            let snapshot = try store.commit(try store.beginSnapshot(parent: nil), SnapshotDetails(kind: .tuned))
            try store.finishJob(job.id, snapshot: snapshot.id, promoted: true)
            return job.id
        }
        let snapshot = try store.commit(try store.beginSnapshot(parent: nil), SnapshotDetails(kind: .base)).id
        let operations: [(JobState, (String) throws -> JobRecord)] = [
            (.running, { try store.startJob($0) }),
            (.evaluating, { try store.beginEvaluation($0) }),
            (.done, { try store.finishJob($0, snapshot: snapshot, promoted: false) }),
            (.failed, { try store.failJob($0, reason: "r") }),
            (.queued, { try store.requeueJob($0) }),
        ]
        let legal: Set<String> = ["queued→running", "queued→failed", "running→evaluating", "running→failed",
                                  "running→queued", "evaluating→done", "evaluating→failed", "evaluating→queued"]
        for from in JobState.allCases {
            for (to, operation) in operations {
                let id = try job(in: from)
                let before = try store.job(id)
                if legal.contains("\(from.rawValue)→\(to.rawValue)") {
                    XCTAssertEqual(try operation(id).state, to)
                } else {
                    XCTAssertStoreError(try operation(id), .invalidTransition(job: id, from: from, to: to))
                    XCTAssertEqual(try store.job(id), before, "a refused transition leaves the file alone")
                }
            }
        }
        for state in [JobState.queued, .done, .failed] {
            let id = try job(in: state)
            XCTAssertStoreError(try store.updateProgress(id, JobProgress(step: 1, total: 2)),
                                .invalidTransition(job: id, from: state, to: .running))
        }
        XCTAssertStoreError(try store.startJob("j-missing"), .unknownJob("j-missing"))
        XCTAssertStoreError(try store.finishJob(try job(in: .evaluating), snapshot: "s-missing", promoted: true), .unknownSnapshot("s-missing"))
    }

    func testRequeueStartsTheAttemptOver() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        let (_, job) = try store.createTask(name: "t", items: Samples.items(2))
        try store.startJob(job.id)
        try store.updateProgress(job.id, JobProgress(step: 1, total: 9))
        let requeued = try store.requeueJob(job.id)
        XCTAssertEqual(requeued.state, .queued)
        XCTAssertNil(requeued.progress)
        XCTAssertNil(requeued.owner)
        XCTAssertEqual(try store.startJob(job.id).attempts, 2)
    }

    func testClaimTakesQueuedJobsOldestFirstAndUnfinishedAreInCreationOrder() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        let ids = try (0..<4).map { try store.createTask(name: "t\($0)", items: Samples.items(2, seed: UInt64($0))).1.id }
        XCTAssertEqual(try store.unfinishedJobs().map(\.id), ids)
        try store.failJob(ids[0], reason: "bad data")
        XCTAssertEqual(try store.claimNextJob()?.id, ids[1])
        XCTAssertEqual(try store.claimNextJob()?.id, ids[2])
        XCTAssertEqual(try store.unfinishedJobs().map(\.id), Array(ids[1...]))
        XCTAssertEqual(try store.unfinishedJobs().map(\.state), [.running, .running, .queued])
        XCTAssertEqual(try store.claimNextJob()?.id, ids[3])
        XCTAssertNil(try store.claimNextJob())
        XCTAssertEqual(try store.jobs().map(\.id), ids)
    }

    func testProgressReporterLimitsTheWriteRateButKeepsTheLatest() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        let (_, job) = try store.createTask(name: "t", items: Samples.items(2))
        try store.startJob(job.id)
        let reporter = JobProgressReporter(store: store, jobId: job.id, minimumInterval: .seconds(3600))
        XCTAssertTrue(try reporter.report(JobProgress(step: 1, total: 100)))
        var written = 0
        for step in 2...50 where try reporter.report(JobProgress(step: step, total: 100, loss: Double(step))) { written += 1 }
        XCTAssertEqual(written, 0)
        XCTAssertEqual(try store.job(job.id).progress?.step, 1)
        try reporter.flush()
        XCTAssertEqual(try store.job(job.id).progress, JobProgress(step: 50, total: 100, loss: 50))
        XCTAssertTrue(try reporter.report(JobProgress(step: 100, total: 100)), "the last step is always written")
        XCTAssertEqual(try store.job(job.id).progress?.step, 100)

        let fast = JobProgressReporter(store: store, jobId: job.id, minimumInterval: .zero)
        for step in 1...5 { XCTAssertTrue(try fast.report(JobProgress(step: step, total: 100))) }
    }
}
