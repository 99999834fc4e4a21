import Foundation
import XCTest
@testable import Store

/// Crash leftovers built by hand (what a killed writer leaves) and by dropping a store mid-work; the real
/// SIGKILL runs are in `CrashTests`.
final class RecoveryTests: XCTestCase {
    /// A writer token with no lease: its owner is gone.
    let deadToken = "w999999-deadbeef"

    func testTemporaryTaskOfADeadWriterIsRemovedOnOpen() throws {
        let scratch = try Scratch()
        let layout = StoreLayout(root: scratch.data)
        _ = try Store(directory: scratch.data)
        let leftover = layout.temporaryTask("t-20260101-000000000-aaaaa", token: deadToken)
        try FileManager.default.createDirectory(at: leftover.appendingPathComponent("images"), withIntermediateDirectories: true)
        try Data([0x89, 0x50]).write(to: leftover.appendingPathComponent("images/000000.png"))
        let atomicLeftovers = [layout.jobs.appendingPathComponent(".j-1.json.tmp-123-456"),
                               scratch.data.appendingPathComponent(".registry.json.tmp-123-456")]
        for url in atomicLeftovers { try Data("{".utf8).write(to: url) }

        let store = try Store(directory: scratch.data)
        XCTAssertFalse(FileManager.default.fileExists(atPath: leftover.path))
        for url in atomicLeftovers { XCTAssertFalse(FileManager.default.fileExists(atPath: url.path)) }
        XCTAssertEqual(Set(store.openingRecovery.removedTemporaries),
                       ["tasks/" + leftover.lastPathComponent, "jobs/.j-1.json.tmp-123-456", ".registry.json.tmp-123-456"])
        XCTAssertEqual(try store.tasks(), [])
        XCTAssertEqual(try store.jobs(), [])
    }

    func testLiveWritersTemporariesAreLeftAlone() throws {
        let scratch = try Scratch()
        let first = try Store(directory: scratch.data)
        let (_, job) = try first.createTask(name: "t", items: Samples.items(3))
        try first.startJob(job.id)
        let draft = try first.beginSnapshot(parent: nil)
        try Data("w".utf8).write(to: draft.directory.appendingPathComponent("weights"))
        let pushInProgress = first.layout.temporaryTask("t-20260101-000000000-bbbbb", token: try XCTUnwrap(first.lease?.token))
        try FileManager.default.createDirectory(at: pushInProgress, withIntermediateDirectories: true)

        let second = try Store(directory: scratch.data)
        XCTAssertTrue(second.openingRecovery.isEmpty, "\(second.openingRecovery)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: pushInProgress.path))
        XCTAssertEqual(try second.job(job.id).state, .running)
        XCTAssertEqual(try second.unfinishedJobs().map(\.state), [.running])
        try first.beginEvaluation(job.id)
        let snapshot = try first.commit(draft, SnapshotDetails(kind: .tuned))
        try first.finishJob(job.id, snapshot: snapshot.id, promoted: true)
        XCTAssertEqual(try second.job(job.id).state, .done)
    }

    func testTaskWithoutItsJobFileGetsTheSameJobBack() throws {
        let scratch = try Scratch()
        var store: Store? = try Store(directory: scratch.data)
        let (task, job) = try store!.createTask(name: "lost job", items: Samples.items(3), strategy: "replay")
        let (_, other) = try store!.createTask(name: "kept", items: Samples.items(3, seed: 9))
        store = nil
        try FileManager.default.removeItem(at: scratch.data.appendingPathComponent("jobs/\(job.id).json"))

        let reopened = try Store(directory: scratch.data)
        XCTAssertEqual(reopened.openingRecovery.recreatedJobs, [job.id])
        let recreated = try reopened.job(job.id)
        XCTAssertEqual(recreated.state, .queued)
        XCTAssertEqual(recreated.taskId, task.id)
        XCTAssertEqual(recreated.strategy, "replay")
        XCTAssertEqual(recreated.createdAt, task.createdAt)
        XCTAssertEqual(try reopened.unfinishedJobs().map(\.id), [job.id, other.id], "creation order is kept")
    }

    /// A task deletion that died after removing the task and before its job: the finished job goes at the next open.
    func testAFinishedJobWhoseTaskWasDeletedIsRemoved() throws {
        let scratch = try Scratch()
        var store: Store? = try Store(directory: scratch.data)
        let (task, job) = try store!.createTask(name: "gone", items: Samples.items(3))
        let (_, kept) = try store!.createTask(name: "kept", items: Samples.items(3, seed: 9))
        _ = try store!.claimNextJob()
        _ = try store!.failJob(job.id, reason: "cancelled by the operator")
        store = nil
        try FileManager.default.removeItem(at: scratch.data.appendingPathComponent("tasks/\(task.id)"))

        let reopened = try Store(directory: scratch.data)
        XCTAssertEqual(reopened.openingRecovery.removedTemporaries, ["jobs/\(job.id).json"])
        XCTAssertThrowsError(try reopened.job(job.id))
        XCTAssertEqual(try reopened.job(kept.id).state, .queued, "a job whose task is there stays")
    }

    func testJobsOfAStoppedWriterAreRequeuedAndItsDraftRemoved() throws {
        let scratch = try Scratch()
        var tuner: Store? = try Store(directory: scratch.data)
        let (_, running) = try tuner!.createTask(name: "a", items: Samples.items(3))
        let (_, evaluating) = try tuner!.createTask(name: "b", items: Samples.items(3, seed: 2))
        let (_, queued) = try tuner!.createTask(name: "c", items: Samples.items(3, seed: 3))
        try tuner!.startJob(running.id)
        try tuner!.updateProgress(running.id, JobProgress(step: 7, total: 10, loss: 0.3))
        tuner!.markWorking(running.id, true)
        try tuner!.startJob(evaluating.id)
        try tuner!.beginEvaluation(evaluating.id)
        let draft = try tuner!.beginSnapshot(parent: nil)
        try Data("partial".utf8).write(to: draft.directory.appendingPathComponent("adapters.safetensors"))
        let leaseFile = scratch.data.appendingPathComponent(".leases").appendingPathComponent(try XCTUnwrap(tuner!.lease?.token))
        tuner = nil  // the writer stops without finishing its jobs
        XCTAssertFalse(FileManager.default.fileExists(atPath: leaseFile.path), "a clean close gives the lease back")

        let restarted = try Store(directory: scratch.data)
        XCTAssertEqual(Set(restarted.openingRecovery.requeuedJobs), [running.id, evaluating.id])
        XCTAssertEqual(restarted.openingRecovery.removedTemporaries, ["snapshots/" + draft.directory.lastPathComponent])
        XCTAssertFalse(FileManager.default.fileExists(atPath: draft.directory.path))
        let unfinished = try restarted.unfinishedJobs()
        XCTAssertEqual(unfinished.map(\.id), [running.id, evaluating.id, queued.id])
        XCTAssertEqual(unfinished.map(\.state), [.queued, .queued, .queued])
        XCTAssertEqual(unfinished.map(\.attempts), [1, 0, 0], "only the job that died during its own work used up an attempt")
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.data.appendingPathComponent("jobs/.\(running.id).working").path))
        XCTAssertNil(unfinished[0].progress)
        XCTAssertEqual(try restarted.claimNextJob()?.attempts, 2)
        XCTAssertTrue(try restarted.recover().isEmpty, "recovery is idempotent and leaves its own work alone")
    }

    func testCorruptFilesAreReportedNotDeleted() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        let (_, job) = try store.createTask(name: "a", items: Samples.items(2))
        let url = scratch.data.appendingPathComponent("jobs/\(job.id).json")
        try Data(#"{"format": 1, "id": 3}"#.utf8).write(to: url)
        XCTAssertThrowsError(try store.job(job.id)) { error in
            guard case .corrupt(let path, let reason)? = error as? StoreError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(reason.contains("id"), reason)
        }
        XCTAssertEqual(try store.jobs(), [])
        _ = try Store(directory: scratch.data)
        XCTAssertTrue(FileManager.default.fileExists(atPath: url.path))
    }
}

final class ReadOnlyStoreTests: XCTestCase {
    func testReadOnlyNeverWritesOrLocks() throws {
        let scratch = try Scratch()
        XCTAssertThrowsError(try Store(directory: scratch.data, mode: .readOnly), "no directory, nothing to read")
        try FileManager.default.createDirectory(at: scratch.data, withIntermediateDirectories: false)
        let early = try Store(directory: scratch.data, mode: .readOnly)  // a replica that starts before the tuner
        XCTAssertEqual(try early.tasks(), [])
        XCTAssertEqual(try early.jobs(), [])
        XCTAssertEqual(try early.snapshots(), [])
        XCTAssertEqual(try early.registry(), .empty)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.data.path), [])
        var writer: Store? = try Store(directory: scratch.data)
        let (task, job) = try writer!.createTask(name: "a", items: Samples.items(3))
        try writer!.startJob(job.id)
        let snapshot = try writer!.commit(try writer!.beginSnapshot(parent: nil), SnapshotDetails(kind: .base))
        try writer!.promote(snapshot.id)
        writer = nil
        // A crashed writer's leftover must survive a read-only open: recovery is the writer's job.
        let leftover = StoreLayout(root: scratch.data).temporaryTask("t-20260101-000000000-ccccc", token: "w1-gone")
        try FileManager.default.createDirectory(at: leftover, withIntermediateDirectories: true)
        try FileManager.default.removeItem(at: scratch.data.appendingPathComponent(".lock"))
        let before = treeFingerprint(scratch.data)

        let reader = try Store(directory: scratch.data, mode: .readOnly)
        XCTAssertNil(reader.lease)
        XCTAssertEqual(try reader.tasks().map(\.id), [task.id])
        XCTAssertEqual(try reader.job(job.id).state, .running, "not re-queued by a reader")
        XCTAssertEqual(try reader.registry().active, snapshot.id)
        XCTAssertEqual(try reader.items(ofTask: task.id).count, 3)

        let directory = scratch.data.path
        XCTAssertStoreError(try reader.createTask(name: "b", items: Samples.items(1)), .readOnly(operation: "createTask", directory: directory))
        XCTAssertStoreError(try reader.claimNextJob(), .readOnly(operation: "claimNextJob", directory: directory))
        XCTAssertStoreError(try reader.startJob(job.id), .readOnly(operation: "startJob", directory: directory))
        XCTAssertStoreError(try reader.updateProgress(job.id, JobProgress(step: 1, total: 1)), .readOnly(operation: "updateProgress", directory: directory))
        XCTAssertStoreError(try reader.beginEvaluation(job.id), .readOnly(operation: "beginEvaluation", directory: directory))
        XCTAssertStoreError(try reader.failJob(job.id, reason: "x"), .readOnly(operation: "failJob", directory: directory))
        XCTAssertStoreError(try reader.requeueJob(job.id), .readOnly(operation: "requeueJob", directory: directory))
        XCTAssertStoreError(try reader.beginSnapshot(parent: nil), .readOnly(operation: "beginSnapshot", directory: directory))
        XCTAssertStoreError(try reader.promote(snapshot.id), .readOnly(operation: "promote", directory: directory))
        XCTAssertStoreError(try reader.rollback(), .readOnly(operation: "rollback", directory: directory))
        XCTAssertStoreError(try reader.addCandidate(snapshot.id), .readOnly(operation: "addCandidate", directory: directory))
        XCTAssertStoreError(try reader.recover(), .readOnly(operation: "recover", directory: directory))
        XCTAssertEqual(treeFingerprint(scratch.data), before, "nothing created, changed or removed (not even .lock)")
        XCTAssertEqual("\(StoreError.readOnly(operation: "promote", directory: "/d"))",
                       "the store at /d is open read-only; promote needs a writable store")
    }

    func testErrorMessagesNameWhatWentWrong() {
        XCTAssertEqual("\(StoreError.unknownJob("j-1"))", "no job with id 'j-1'")
        XCTAssertEqual("\(StoreError.invalidTransition(job: "j-1", from: .done, to: .running))", "job j-1 cannot go from done to running")
        XCTAssertEqual("\(StoreError.corrupt(path: "/x.json", reason: "missing id"))", "/x.json is corrupt: missing id")
    }
}
