import Dispatch
import Foundation
import Imaging
import LLaVA
import Logging
import XCTest
@testable import Server

/// Switching the active snapshot: the loaded snapshots follow the registry write, never runs ahead of it.
final class LoadedSnapshotsTests: XCTestCase {
    struct WriteFailed: Error {}

    /// Every id names the tiny fixture model, so the test can switch between as many snapshots as it likes.
    func makeLoaded() -> LoadedSnapshots {
        let model = AnswerRouteTests.model
        return LoadedSnapshots(logger: Logger(label: "test")) { _ in model }
    }

    func testAFailedRegistryWriteLeavesTheOldSnapshotActive() throws {
        let loaded = makeLoaded()
        try loaded.activate("a")
        XCTAssertThrowsError(try loaded.activate("b") { throw WriteFailed() })
        XCTAssertEqual(loaded.activeId, "a")
        let recorded = try loaded.activate("b") { "written" }
        XCTAssertEqual(recorded, "written")
        XCTAssertEqual(loaded.activeId, "b")
    }

    /// Concurrent switches run one at a time: the snapshot left active is the one recorded last.
    func testConcurrentSwitchesEndOnTheLastRecorded() throws {
        let loaded = makeLoaded()
        let log = RecordLog()
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            try? loaded.activate("s\(index)") { log.append("s\(index)") }
        }
        XCTAssertEqual(log.entries.count, 8)
        XCTAssertEqual(loaded.activeId, log.entries.last)
    }
}

extension LoadedSnapshotsTests {

    /// Snapshots of one base model share its weights: loading more snapshots adds no copy of the base.
    func testSnapshotsShareTheBaseWeights() throws {
        let loaded = makeLoaded()
        let a = try loaded.snapshot("a"), b = try loaded.snapshot("b")
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
