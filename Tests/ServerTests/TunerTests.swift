import Foundation
import Imaging
import Logging
import Store
import XCTest
@testable import Server

/// The tuner's state machine, in an in-process server on the tiny fixture model: a job goes queued → running →
/// evaluating → done and its snapshot is promoted; a job cancelled while it runs fails with the operator's
/// reason; a job past its attempts fails without running.
final class TunerTests: XCTestCase {
    private var servers: [(MnemeServer, URL)] = []

    override func tearDown() {
        for (server, directory) in servers {
            server.stop()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    private func start(_ configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> (MnemeServer, Store) {
        var configuration = ServerConfiguration(dataDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("mneme-tuner-\(UUID())"),
                                                modelDirectory: AnswerRouteTests.model)
        configuration.port = 0
        configuration.tuner.learning.maxEpochs = 3
        configure(&configuration)
        let server = try MnemeServer(configuration: configuration, logger: Logger(label: "test"))
        try server.start()
        servers.append((server, configuration.dataDirectory))
        return (server, try server.context.requireStore())
    }

    private func items(_ count: Int) -> [PushedItem] {
        (0 ..< count).map { index in
            PushedItem(image: PNGEncoder.encode(RGBImage(width: 32, height: 32, red: UInt8(150 + index), green: 20, blue: 20)),
                       question: "What colour is it?", answer: "red")
        }
    }

    /// Polls the job until `done` holds, recording every state it was seen in.
    private func follow(_ id: String, in store: Store, timeout: TimeInterval = 60, until done: (JobRecord) -> Bool) throws -> (JobRecord, [JobState]) {
        var seen: [JobState] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let job = try store.job(id)
            if seen.last != job.state { seen.append(job.state) }
            if done(job) { return (job, seen) }
            usleep(2000)
        }
        throw XCTSkip("job \(id) did not get there within \(timeout) s: \(seen)")
    }

    func testAJobRunsToDoneAndItsSnapshotIsPromoted() throws {
        let (server, store) = try start()
        let (_, job) = try store.createTask(name: "redness", items: items(24))
        server.context.tuner?.wake()
        let (finished, seen) = try follow(job.id, in: store) { $0.state == .done || $0.state == .failed }
        XCTAssertEqual(finished.state, .done, "\(finished)")
        // Polled, a short state may be missed; what was seen is in the machine's order.
        let order: [JobState] = [.queued, .running, .evaluating, .done]
        XCTAssertEqual(seen, order.filter(seen.contains), "\(seen)")
        XCTAssertTrue(seen.contains(.running) && seen.last == .done, "\(seen)")
        XCTAssertEqual(finished.promoted, true)
        XCTAssertEqual(server.activeSnapshot, finished.snapshot, "the new snapshot serves")
        XCTAssertNotNil(finished.outcome?.summary)
        // The mark goes down as the job's worker lets go of it, just after the job's record says done.
        let mark = store.directory.appendingPathComponent("jobs/.\(job.id).working").path
        let deadline = Date().addingTimeInterval(5)
        while FileManager.default.fileExists(atPath: mark), Date() < deadline { usleep(2000) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: mark), "the work mark is down once the job is over")
    }

    func testAJobCancelledWhileRunningFailsWithTheOperatorsReason() throws {
        let (server, store) = try start { $0.tuner.learning.maxEpochs = 500 }
        let (_, job) = try store.createTask(name: "long", items: items(24))
        server.context.tuner?.wake()
        _ = try follow(job.id, in: store) { $0.state == .running }
        server.context.tuner?.cancel(job.id)
        let (finished, _) = try follow(job.id, in: store) { $0.state == .done || $0.state == .failed }
        XCTAssertEqual(finished.state, .failed)
        XCTAssertEqual(finished.error, Tuner.cancelledReason)
        XCTAssertNil(finished.snapshot, "nothing was written")
    }

    func testAJobPastItsAttemptsFailsWithoutRunning() throws {
        let (server, store) = try start { $0.tuner.maxAttempts = 0 }
        let (_, job) = try store.createTask(name: "doomed", items: items(8))
        server.context.tuner?.wake()
        let (finished, seen) = try follow(job.id, in: store) { $0.state == .failed }
        XCTAssertTrue(finished.error?.contains("gave up after") == true, "\(finished)")
        XCTAssertFalse(seen.contains(.evaluating), "it never trained")
    }
}
