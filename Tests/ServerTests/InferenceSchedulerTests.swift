import Foundation
import Imaging
import LLaVA
import Logging
import XCTest
@testable import Server

/// The batch scheduler and its side of the tuner's turns.
final class InferenceSchedulerTests: XCTestCase {
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
}
