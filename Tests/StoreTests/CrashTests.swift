import Foundation
import Synchronization
import XCTest
@testable import Store

/// Real crashes: the test re-runs this test binary as a child process that writes to a store and SIGKILLs itself
/// at a chosen instant (a `Store.CrashPoint`, or a random moment), then reopens the directory and checks that
/// everything the child acknowledged is there, whole, with its job, and that recovery cleaned up the rest.
///
/// The child acknowledges a push the way the server does (after `createTask` returns) by appending the ids to
/// `acks.log` with an fsync, outside the data directory.
final class CrashTests: XCTestCase {
    static let directoryVariable = "MNEME_STORE_CRASH_DIR"
    static let scenarioVariable = "MNEME_STORE_CRASH_SCENARIO"

    /// The child's side. Does nothing (and passes) in a normal test run, where the variables are unset.
    func testChildProcessEntryPoint() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let root = environment[Self.directoryVariable], let scenario = environment[Self.scenarioVariable] else { return }
        try Self.runChild(root: URL(fileURLWithPath: root), scenario: scenario)
        exit(3)  // the scenario was meant to kill us before this
    }

    func testKilledWriterLosesNothingAcknowledged() throws {
        #if os(Linux)
        for scenario in ["taskFilesWritten", "taskRenamed", "taskJobWritten"] {
            let (scratch, acks) = try runKilledChild(scenario)
            let store = try Store(directory: scratch.data)
            try verifyAcknowledged(acks, in: store, scenario: scenario)
            let tasks = try store.tasks()
            switch scenario {
            case "taskFilesWritten":  // killed before the rename: the push never happened
                XCTAssertEqual(tasks.count, 2)
                XCTAssertEqual(store.openingRecovery.removedTemporaries.count, 1, "\(store.openingRecovery)")
                XCTAssertEqual(store.openingRecovery.removedTemporaries.first?.hasPrefix("tasks/.tmp."), true)
            case "taskRenamed":  // killed between rename and job file: the task is whole and its job comes back
                XCTAssertEqual(tasks.count, 3)
                XCTAssertEqual(store.openingRecovery.recreatedJobs, [tasks[2].jobId])
                try verifyTask(tasks[2], number: 2, in: store)
            default:  // killed after the job write, before the acknowledgement: a whole task, nothing to repair
                XCTAssertEqual(tasks.count, 3)
                XCTAssertTrue(store.openingRecovery.isEmpty, "\(store.openingRecovery)")
            }
            XCTAssertEqual(try store.jobs().count, tasks.count, scenario)
        }

        // Killed while training: the job is queued again and the half-written snapshot is gone.
        do {
            let (scratch, acks) = try runKilledChild("progressWritten")
            let store = try Store(directory: scratch.data)
            try verifyAcknowledged(acks, in: store, scenario: "progressWritten")
            let job = try store.job(try XCTUnwrap(try store.tasks().first).jobId)
            XCTAssertEqual(job.state, .queued)
            XCTAssertEqual(job.attempts, 1)
            XCTAssertNil(job.progress)
            XCTAssertEqual(store.openingRecovery.requeuedJobs, [job.id])
            XCTAssertEqual(store.openingRecovery.removedTemporaries.filter { $0.hasPrefix("snapshots/.draft.") }.count, 1)
            XCTAssertEqual(try store.snapshots(), [])
        }

        // Killed in the middle of a snapshot commit: before the rename nothing is published, after it all is.
        for scenario in ["snapshotSynced", "snapshotRenamed"] {
            let (scratch, _) = try runKilledChild(scenario)
            let store = try Store(directory: scratch.data)
            let snapshots = try store.snapshots()
            if scenario == "snapshotSynced" {
                XCTAssertEqual(snapshots, [])
                XCTAssertEqual(store.openingRecovery.removedTemporaries.count, 1)
            } else {
                XCTAssertEqual(snapshots.count, 1)
                let weights = try store.snapshotDirectory(snapshots[0].id).appendingPathComponent("adapters.safetensors")
                XCTAssertEqual(try Data(contentsOf: weights), Data(repeating: 7, count: 4096))
                XCTAssertEqual(snapshots[0].accuracy, ["t0": 0.5])
            }
            XCTAssertEqual(try store.unfinishedJobs().map(\.state), [.queued], "the evaluating job starts over")
        }

        // Killed at a random instant while pushing and reporting progress as fast as it can. Four rounds in the
        // suite; MNEME_CRASH_ROUNDS=20 (or more) for a longer trial by hand (docs/OPERATIONS.md §12).
        let rounds = ProcessInfo.processInfo.environment["MNEME_CRASH_ROUNDS"].flatMap(Int.init) ?? 4
        for round in 0..<rounds {
            let (scratch, acks) = try runKilledChild("random")
            let store = try Store(directory: scratch.data)
            try verifyAcknowledged(acks, in: store, scenario: "random \(round)")
            let tasks = try store.tasks()
            XCTAssertTrue(tasks.count == acks.count || tasks.count == acks.count + 1, "\(tasks.count) tasks, \(acks.count) acks")
            for (number, task) in tasks.enumerated() { try verifyTask(task, number: number, in: store) }
            XCTAssertEqual(try store.jobs().count, tasks.count)
            XCTAssertTrue(try store.jobs().allSatisfy { $0.state == .queued }, "no job left running by the dead child")
            let feedback = ((try? String(contentsOf: scratch.root.appendingPathComponent("feedback.log"), encoding: .utf8)) ?? "")
                .split(separator: "\n").map { $0.split(separator: " ") }
            XCTAssertFalse(feedback.isEmpty, "round \(round): no feedback was acknowledged before the kill")
            for line in feedback {
                let number = Int(line[1])!
                let record = try XCTUnwrap(try store.feedback(String(line[0])), "round \(round): acknowledged feedback \(line[0]) lost")
                XCTAssertEqual(record.question, "question \(number)")
                XCTAssertEqual(try store.feedbackImage(record), Self.items(number)[0].image)
            }
        }
        #else
        throw XCTSkip("the crash child is started through /proc/self/exe")
        #endif
    }

    // MARK: Parent side

    private func runKilledChild(_ scenario: String) throws -> (Scratch, [(task: String, job: String)]) {
        let scratch = try Scratch()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["StoreTests.CrashTests/testChildProcessEntryPoint"]
        var environment = ProcessInfo.processInfo.environment
        environment[Self.directoryVariable] = scratch.root.path
        environment[Self.scenarioVariable] = scenario
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal, "\(scenario): child exited instead of being killed:\n\(text)")
        XCTAssertEqual(process.terminationStatus, SIGKILL, "\(scenario):\n\(text)")
        let log = (try? String(contentsOf: scratch.root.appendingPathComponent("acks.log"), encoding: .utf8)) ?? ""
        let acks = log.split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (task: String(parts[0]), job: String(parts[1]))
        }
        return (scratch, acks)
    }

    /// Every acknowledged push is a whole task with its job, and no temporaries are left after recovery.
    private func verifyAcknowledged(_ acks: [(task: String, job: String)], in store: Store, scenario: String) throws {
        for (number, ack) in acks.enumerated() {
            let task = try store.task(ack.task)
            XCTAssertEqual(task.jobId, ack.job, scenario)
            XCTAssertEqual(try store.job(ack.job).taskId, ack.task, scenario)
            try verifyTask(task, number: number, in: store)
        }
        for folder in ["tasks", "snapshots", "jobs", "feedback"] {
            let names = try FileManager.default.contentsOfDirectory(atPath: store.directory.appendingPathComponent(folder).path)
            XCTAssertEqual(names.filter { $0.hasPrefix(".") }, [], "\(scenario): leftovers in \(folder)")
        }
        let leases = try FileManager.default.contentsOfDirectory(atPath: store.directory.appendingPathComponent(".leases").path)
        XCTAssertEqual(leases, [store.lease?.token].compactMap { $0 }, "\(scenario): the dead child's lease is cleared")
    }

    private func verifyTask(_ task: TaskRecord, number: Int, in store: Store) throws {
        let expected = Self.items(number)
        XCTAssertEqual(task.name, "task \(number)")
        let items = try store.items(ofTask: task.id)
        XCTAssertEqual(try items.map { try $0.imageData() }, expected.map(\.image), task.id)
        XCTAssertEqual(items.map(\.question), expected.map(\.question))
        XCTAssertEqual(task.contentHash, TaskSplit.contentHash(expected))
    }

    // MARK: Child side

    static func items(_ number: Int) -> [PushedItem] { Samples.items(4 + number % 5, seed: UInt64(number) + 100) }

    private static func runChild(root: URL, scenario: String) throws {
        let store = try Store(directory: root.appendingPathComponent("data"))
        let ackFile = open(root.appendingPathComponent("acks.log").path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        func push(_ number: Int) throws -> JobRecord {
            let (task, job) = try store.createTask(name: "task \(number)", items: items(number))
            let line = Array("\(task.id) \(job.id)\n".utf8)
            _ = line.withUnsafeBytes { write(ackFile, $0.baseAddress, $0.count) }
            fsync(ackFile)
            return job
        }
        /// Dies the `count`-th time `point` is reached.
        func kill(at point: Store.CrashPoint, occurrence count: Int) {
            let seen = Mutex(0)
            Store.crashHook.withLock {
                $0 = { reached in
                    guard reached == point else { return }
                    if seen.withLock({ $0 += 1; return $0 }) == count { Foundation.kill(getpid(), SIGKILL) }
                }
            }
        }

        switch scenario {
        case "taskFilesWritten", "taskRenamed", "taskJobWritten":
            kill(at: Store.CrashPoint(rawValue: scenario)!, occurrence: 3)
            for number in 0..<5 { _ = try push(number) }
        case "progressWritten":
            let job = try push(0)
            _ = try store.claimNextJob()
            store.markWorking(job.id, true)  // killed during the job's own work: the attempt counts
            let draft = try store.beginSnapshot(parent: nil)
            try Data(repeating: 1, count: 1000).write(to: draft.directory.appendingPathComponent("adapters.safetensors"))
            kill(at: .progressWritten, occurrence: 5)
            for step in 0..<100 { try store.updateProgress(job.id, JobProgress(step: step, total: 100)) }
        case "snapshotSynced", "snapshotRenamed":
            let job = try push(0)
            _ = try store.claimNextJob()
            try store.beginEvaluation(job.id)
            let draft = try store.beginSnapshot(parent: nil)
            try Data(repeating: 7, count: 4096).write(to: draft.directory.appendingPathComponent("adapters.safetensors"))
            kill(at: Store.CrashPoint(rawValue: scenario)!, occurrence: 1)
            try store.commit(draft, SnapshotDetails(kind: .tuned, tasks: ["t0"], accuracy: ["t0": 0.5], jobId: job.id))
        case "random":
            let delay = UInt32.random(in: 20_000...120_000)
            Thread.detachNewThread {
                usleep(delay)
                Foundation.kill(getpid(), SIGKILL)
            }
            let feedbackFile = open(root.appendingPathComponent("feedback.log").path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            var number = 0
            while true {
                // Feedback on an answer, acknowledged like a push: after recordFeedback returns.
                let record = FeedbackRecord(queryId: StoreID.make(.query), snapshot: "s-x", task: "base", question: "question \(number)",
                                            answer: "red", correct: number % 2 == 0, correction: number % 2 == 0 ? nil : "blue", askedAt: Date())
                _ = try store.recordFeedback(record, image: items(number)[0].image)
                let line = Array("\(record.queryId) \(number)\n".utf8)
                _ = line.withUnsafeBytes { write(feedbackFile, $0.baseAddress, $0.count) }
                fsync(feedbackFile)
                let job = try push(number)
                if number == 0 { _ = try store.claimNextJob() }
                if number % 3 == 0, let running = try store.unfinishedJobs().first(where: { $0.state == .running }) {
                    try store.updateProgress(running.id, JobProgress(step: number, total: 1000))
                }
                _ = job
                number += 1
            }
        default:
            XCTFail("unknown crash scenario \(scenario)")
        }
    }
}
