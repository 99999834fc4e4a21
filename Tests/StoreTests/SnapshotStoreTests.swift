import Foundation
import XCTest
@testable import Store

final class SnapshotStoreTests: XCTestCase {
    func testDraftCommitPublishesAnImmutableDirectory() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        let base = try store.commit(try store.beginSnapshot(parent: nil), SnapshotDetails(kind: .base))
        let draft = try store.beginSnapshot(parent: base.id)
        XCTAssertTrue(draft.directory.lastPathComponent.hasPrefix("."), "drafts are hidden from listings")
        XCTAssertEqual(draft.directory.deletingLastPathComponent().standardizedFileURL.path,
                       scratch.data.appendingPathComponent("snapshots").standardizedFileURL.path,
                       "drafts sit beside the final directories, so relative paths survive the rename")
        try Data("weights".utf8).write(to: draft.directory.appendingPathComponent("adapters.safetensors"))
        try FileManager.default.createDirectory(at: draft.directory.appendingPathComponent("extra"), withIntermediateDirectories: false)
        try Data("{}".utf8).write(to: draft.directory.appendingPathComponent("extra/config.json"))
        XCTAssertEqual(try store.snapshots().map(\.id), [base.id], "a draft is not a snapshot")
        XCTAssertStoreError(try store.snapshot(draft.id), .unknownSnapshot(draft.id))

        let details = SnapshotDetails(kind: .tuned, tasks: ["colour", "shape"], taskIds: ["t-1", "t-2"], strategy: "branchlora",
                                      accuracy: ["colour": 0.91, "shape": 0.875], jobId: "j-1")
        let metadata = try store.commit(draft, details)
        XCTAssertEqual(metadata.id, draft.id)
        XCTAssertEqual(metadata.parent, base.id)
        XCTAssertFalse(FileManager.default.fileExists(atPath: draft.directory.path))

        let directory = try store.snapshotDirectory(draft.id)
        XCTAssertEqual(try String(contentsOf: directory.appendingPathComponent("adapters.safetensors"), encoding: .utf8), "weights")
        XCTAssertEqual(try String(contentsOf: directory.appendingPathComponent("extra/config.json"), encoding: .utf8), "{}")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("metadata.json"))) as? [String: Any])
        XCTAssertEqual(object["id"] as? String, draft.id)
        XCTAssertEqual(object["parent"] as? String, base.id)
        XCTAssertEqual(object["kind"] as? String, "tuned")
        XCTAssertEqual(object["tasks"] as? [String], ["colour", "shape"])
        XCTAssertEqual(object["strategy"] as? String, "branchlora")
        XCTAssertEqual(object["accuracy"] as? [String: Double], ["colour": 0.91, "shape": 0.875])
        XCTAssertNotNil(object["created_at"] as? String)

        // Listed in creation order, readable from a fresh (read-only) store too.
        let reader = try Store(directory: scratch.data, mode: .readOnly)
        XCTAssertEqual(try reader.snapshots(), [base, metadata])
        XCTAssertStoreError(try store.commit(draft, details),
                            .io(path: draft.directory.path, reason: "the draft directory is gone (discarded or already committed)"))
    }

    func testDiscardAndBadParents() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        XCTAssertStoreError(try store.beginSnapshot(parent: "s-none"), .unknownSnapshot("s-none"))
        let draft = try store.beginSnapshot(parent: nil)
        try Data([1, 2, 3]).write(to: draft.directory.appendingPathComponent("model.safetensors"))
        try store.discard(draft)
        XCTAssertFalse(FileManager.default.fileExists(atPath: draft.directory.path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.data.appendingPathComponent("snapshots").path), [])

        let other = try Store(directory: scratch.data)
        let foreign = try store.beginSnapshot(parent: nil)
        XCTAssertThrowsError(try other.commit(foreign, SnapshotDetails(kind: .base)), "only the store that began a draft commits it")
        let withMetadata = try store.beginSnapshot(parent: nil)
        try Data("{}".utf8).write(to: withMetadata.directory.appendingPathComponent("metadata.json"))
        XCTAssertThrowsError(try store.commit(withMetadata, SnapshotDetails(kind: .base)))
    }
}

final class RegistryTests: XCTestCase {
    func testPromoteRollbackRoundTrip() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        XCTAssertEqual(try store.registry(), .empty)
        XCTAssertStoreError(try store.rollback(), .nothingToRollBack)
        XCTAssertStoreError(try store.promote("s-nope"), .unknownSnapshot("s-nope"))
        let ids = try (0..<3).map { _ in try store.commit(try store.beginSnapshot(parent: nil), SnapshotDetails(kind: .base)).id }
        let (a, b, c) = (ids[0], ids[1], ids[2])

        try store.promote(a)
        try store.addCandidate(b)
        try store.addCandidate(c)
        XCTAssertEqual(try store.registry().candidates, [b, c])
        var registry = try store.promote(b)
        XCTAssertEqual(registry.active, b)
        XCTAssertEqual(registry.previousActive, a)
        XCTAssertEqual(registry.candidates, [c])
        registry = try store.promote(c)
        XCTAssertEqual(registry.history, [a, b])
        XCTAssertEqual(registry.candidates, [])
        XCTAssertEqual(try store.promote(c).generation, registry.generation, "promoting the active one changes nothing")

        registry = try store.rollback()
        XCTAssertEqual(registry.active, b)
        XCTAssertEqual(registry.candidates, [c], "the snapshot rolled back from stays inspectable")
        registry = try store.rollback()
        XCTAssertEqual(registry.active, a)
        XCTAssertEqual(registry.history, [])
        XCTAssertStoreError(try store.rollback(), .nothingToRollBack)
        XCTAssertEqual(registry.generation, 7)

        // What another process sees, reading the file without a store.
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: scratch.data.appendingPathComponent("registry.json"))) as? [String: Any])
        XCTAssertEqual(object["active"] as? String, a)
        XCTAssertEqual(Set(try XCTUnwrap(object["candidates"] as? [String])), [b, c])
        XCTAssertEqual(try Store.readRegistry(directory: scratch.data), registry)
        XCTAssertEqual(try Store.readRegistry(directory: scratch.root.appendingPathComponent("nothing-here")), .empty)
    }

    /// Labels live in the registry (snapshots are immutable); retention deletes the oldest tuned snapshots beyond
    /// the limit but never the base, the active one, the rollback target or a labelled one.
    func testLabelsAndRetention() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        let base = try store.commit(try store.beginSnapshot(parent: nil), SnapshotDetails(kind: .base)).id
        let tuned = try (0 ..< 6).map { _ in try store.commit(try store.beginSnapshot(parent: base), SnapshotDetails(kind: .tuned)).id }
        try store.label(tuned[1], "  before the March relabel ")
        XCTAssertEqual(try store.registry().labels, [tuned[1]: "before the March relabel"])
        XCTAssertStoreError(try store.label(tuned[2], String(repeating: "x", count: 201)), .invalidArgument("a label has at most 200 characters"))
        try store.promote(tuned[0])
        try store.promote(tuned[2])  // active tuned[2], rollback target tuned[0]
        XCTAssertEqual(try store.pruneSnapshots(keep: 2), [tuned[3]], "the two newest kept; active, rollback target and label spared")
        XCTAssertEqual(try store.snapshots().map(\.id), [base, tuned[0], tuned[1], tuned[2], tuned[4], tuned[5]])
        try store.label(tuned[1], "")
        XCTAssertEqual(try store.registry().labels, [:], "an empty label removes it")
        XCTAssertStoreError(try store.deleteSnapshot(base), .inUse("snapshot \(base) is the base model every other snapshot is built on"))
    }

    /// A canary's snapshot serves (here and on replicas): it is neither deleted nor pruned while the canary runs.
    func testACanarysSnapshotIsKept() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        let base = try store.commit(try store.beginSnapshot(parent: nil), SnapshotDetails(kind: .base)).id
        let tuned = try (0 ..< 3).map { _ in try store.commit(try store.beginSnapshot(parent: base), SnapshotDetails(kind: .tuned)).id }
        try store.promote(tuned[2])
        try store.setCanary(Registry.Canary(candidate: tuned[0], active: tuned[2], traffic: 0.2, shadow: 0, startedAt: Date()))
        XCTAssertEqual(try store.pruneSnapshots(keep: 1), [tuned[1]], "the canary's snapshot is spared")
        XCTAssertStoreError(try store.deleteSnapshot(tuned[0]),
                            .inUse("snapshot \(tuned[0]) is serving as a canary (here and on the replicas); complete or roll it back first"))
        try store.setCanary(nil)
        XCTAssertNoThrow(try store.deleteSnapshot(tuned[0]))
    }

    func testWatcherReportsEachChangeOnce() throws {
        let scratch = try Scratch()
        let store = try Store(directory: scratch.data)
        var watcher = RegistryWatcher(directory: scratch.data)
        XCTAssertEqual(try watcher.poll(), .empty, "the first poll reports the current state")
        XCTAssertNil(try watcher.poll())
        let a = try store.commit(try store.beginSnapshot(parent: nil), SnapshotDetails(kind: .base)).id
        let b = try store.commit(try store.beginSnapshot(parent: a), SnapshotDetails(kind: .tuned)).id
        try store.promote(a)
        XCTAssertEqual(try watcher.poll()?.active, a)
        XCTAssertNil(try watcher.poll())
        try store.promote(b)
        try store.rollback()
        XCTAssertEqual(try watcher.poll()?.generation, 3, "several changes between polls arrive as the latest state")
        XCTAssertNil(try watcher.poll())
        try store.promote(b)
        XCTAssertEqual(try watcher.poll()?.active, b)
    }
}
