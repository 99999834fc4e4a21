import Dispatch
import Foundation
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
