import LLaVA
import Tensor
import XCTest
@testable import Continual

/// Evaluation runs one item per core on single-threaded BLAS and gives the threads back; inside a server's
/// tuner (a `TrainingYield` handler installed) it leaves the BLAS threads alone and pauses before every four-item chunk.
final class EvaluationThreadsTests: XCTestCase {
    private func threadsSeenWhileEvaluating() throws -> (during: Set<Int>, after: Int) {
        let snapshot = try Snapshot.load(from: TuningTests.modelDirectory)
        let items = TuningTests.colourTask(TuningTests.warm, question: "What colour is the background?", count: 17, seed: 3)
        let seen = LockedSet()
        _ = try Evaluation.evaluate(snapshot: snapshot, items: items, routing: .task("base")) { _, _ in seen.insert(BLAS.threads) }
        return (seen.values, BLAS.threads)
    }

    func testSingleThreadedBLASWhileEvaluatingThenRestored() throws {
        let threads = BLAS.threads
        BLAS.setThreads(2)
        defer { BLAS.setThreads(threads) }
        let (during, after) = try threadsSeenWhileEvaluating()
        XCTAssertEqual(during, [1])
        XCTAssertEqual(after, 2)
    }

    func testPausesBetweenRoundsUnderATrainingYieldHandler() throws {
        let threads = BLAS.threads
        BLAS.setThreads(2)
        let pauses = LockedSet()
        TrainingYield.install { pauses.insert(pauses.values.count) }
        defer { TrainingYield.install(nil); BLAS.setThreads(threads) }
        let (during, after) = try threadsSeenWhileEvaluating()
        XCTAssertEqual(during, [2], "the process's BLAS threads are left as they are beside a server")
        XCTAssertEqual(after, 2)
        XCTAssertEqual(pauses.values.count, 5, "one pause before each chunk of four items")
    }
}

extension EvaluationThreadsTests {
    /// A cancelled job stops between rounds of items (inside a server's tuner), not after the whole evaluation.
    func testAnEvaluationStopsWhenAsked() throws {
        let snapshot = try Snapshot.load(from: TuningTests.modelDirectory)
        let items = TuningTests.colourTask(TuningTests.warm, question: "What colour is the background?", count: 17, seed: 3)
        TrainingYield.install {}
        defer { TrainingYield.install(nil) }
        let asked = LockedSet()
        XCTAssertThrowsError(try Evaluation.evaluate(snapshot: snapshot, items: items, routing: .task("base"), shouldStop: {
            asked.insert(asked.values.count)
            return asked.values.count > 2
        })) { XCTAssertTrue($0 is CancellationError, "\($0)") }
        XCTAssertEqual(asked.values.count, 3, "it asked before each round and stopped at the first yes")
    }
}

private final class LockedSet: @unchecked Sendable {
    private let lock = NSLock()
    private var set: Set<Int> = []
    func insert(_ value: Int) { lock.lock(); set.insert(value); lock.unlock() }
    var values: Set<Int> { lock.lock(); defer { lock.unlock() }; return set }
}
