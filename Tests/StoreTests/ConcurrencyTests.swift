import Foundation
import Synchronization
import XCTest
@testable import Store

/// Two writable stores on one directory (as a tuner and an admin tool would be), hammered from several threads.
final class ConcurrencyTests: XCTestCase {
    func testTwoStoresShareOneDirectoryWithoutLosingUpdates() throws {
        let scratch = try Scratch()
        let stores = [try Store(directory: scratch.data), try Store(directory: scratch.data)]
        let jobIds = try (0..<8).map { index in
            try stores[index % 2].createTask(name: "t\(index)", items: Samples.items(2, seed: UInt64(index)), evalFraction: 0).1.id
        }

        // Claims race: every job is handed out exactly once.
        let claimed = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { worker in
            while let job = try? stores[worker % 2].claimNextJob() {
                claimed.withLock { $0.append(job.id) }
            }
        }
        XCTAssertEqual(claimed.withLock { $0 }.sorted(), jobIds)

        // Progress storm: 400 updates from both stores onto the same jobs, interleaved with readers.
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            let store = stores[worker % 2]
            for step in 0..<50 {
                let id = jobIds[(worker + step) % jobIds.count]
                do {
                    try store.updateProgress(id, JobProgress(step: step, total: 50, loss: Double(worker)))
                    let seen = try store.job(id)
                    if seen.state != .running || seen.progress == nil { failures.withLock { $0.append("\(id): \(seen)") } }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])

        // Transition race: both stores try to move every job on; exactly one wins each edge.
        let wins = Mutex<[String: Int]>([:])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for id in jobIds {
                do {
                    try stores[worker % 2].beginEvaluation(id)
                    wins.withLock { $0[id, default: 0] += 1 }
                } catch StoreError.invalidTransition(job: id, from: .evaluating, to: .evaluating) {
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        XCTAssertEqual(wins.withLock { $0 }, Dictionary(uniqueKeysWithValues: jobIds.map { ($0, 1) }))
        XCTAssertEqual(failures.withLock { $0 }, [])

        // Registry read-modify-write from both stores: no candidate lost, one generation per change.
        let snapshots = try (0..<40).map { index in
            try stores[index % 2].commit(try stores[index % 2].beginSnapshot(parent: nil), SnapshotDetails(kind: .base)).id
        }
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for (index, id) in snapshots.enumerated() where index % 8 == worker {
                do { try stores[worker % 2].addCandidate(id) } catch { failures.withLock { $0.append("\(error)") } }
            }
        }
        let registry = try stores[0].registry()
        XCTAssertEqual(registry.candidates.sorted(), snapshots)
        XCTAssertEqual(registry.generation, snapshots.count)
        XCTAssertEqual(failures.withLock { $0 }, [])

        // Every job file is whole, and the directory holds nothing but what the stores published.
        for id in jobIds { XCTAssertEqual(try stores[1].job(id).state, .evaluating) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.data.appendingPathComponent("jobs").path).sorted(),
                       jobIds.map { $0 + ".json" })
    }
}
