import Dispatch
import Foundation
import Imaging
import LLaVA
import Logging
import XCTest
@testable import Server

/// Switching the active snapshot: the engine follows the registry write, never runs ahead of it.
final class EngineTests: XCTestCase {
    struct WriteFailed: Error {}

    /// Every id names the tiny fixture model, so the test can switch between as many snapshots as it likes.
    func makeEngine() -> Engine {
        let model = AnswerRouteTests.model
        return Engine(scheduler: InferenceScheduler(maxBatch: 1, logger: Logger(label: "test")), logger: Logger(label: "test")) { _ in model }
    }

    func testAFailedRegistryWriteLeavesTheOldSnapshotActive() throws {
        let engine = makeEngine()
        try engine.activate("a")
        XCTAssertThrowsError(try engine.activate("b") { throw WriteFailed() })
        XCTAssertEqual(engine.activeId, "a")
        let recorded = try engine.activate("b") { "written" }
        XCTAssertEqual(recorded, "written")
        XCTAssertEqual(engine.activeId, "b")
    }

    /// Concurrent switches run one at a time: the snapshot left active is the one recorded last.
    func testConcurrentSwitchesEndOnTheLastRecorded() throws {
        let engine = makeEngine()
        let log = RecordLog()
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            try? engine.activate("s\(index)") { log.append("s\(index)") }
        }
        XCTAssertEqual(log.entries.count, 8)
        XCTAssertEqual(engine.activeId, log.entries.last)
    }
}

extension EngineTests {
    /// Every query the scheduler answers leaves the tuner's count of waiting queries: a query answered the moment
    /// it was queued once stayed counted, and the tuner waited for it forever.
    func testAnsweredQueriesAreNoLongerCountedAsWaiting() async throws {
        let scheduler = InferenceScheduler(maxBatch: 4, logger: Logger(label: "test"))
        scheduler.start()
        defer { scheduler.stop() }
        let snapshot = try Snapshot.load(from: AnswerRouteTests.model)
        let image = RGBImage(width: 16, height: 16, red: 200, green: 20, blue: 20)
        for _ in 0 ..< 10 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0 ..< 12 {
                    group.addTask {
                        _ = try await scheduler.answer(snapshot: snapshot, image: image, question: "What colour is it?", task: nil,
                                                       maxNewTokens: 2, topLogprobs: 0)
                    }
                }
                try await group.waitForAll()
            }
            XCTAssertEqual(scheduler.turns.waiting, 0)
        }
    }

    /// Snapshots of one base model share its weights: loading more snapshots adds no copy of the base.
    func testSnapshotsShareTheBaseWeights() throws {
        let engine = makeEngine()
        let a = try engine.snapshot("a"), b = try engine.snapshot("b")
        XCTAssertTrue(a.base.model.text.embedTokens.storage === b.base.model.text.embedTokens.storage)
        XCTAssertTrue(a.base.model.vision.patchEmbedding.storage === b.base.model.vision.patchEmbedding.storage)
    }
}

/// The order in which switches recorded themselves.
private final class RecordLog: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [String] = []

    func append(_ entry: String) { lock.withLock { recorded.append(entry) } }
    var entries: [String] { lock.withLock { recorded } }
}
