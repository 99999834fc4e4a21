import Foundation
import XCTest
@testable import Server

/// The canary's split and its rule.
final class CanaryTests: XCTestCase {
    func testClientsAreSplitByShareAndKeepTheirSide() {
        let canary = Canary(candidate: "b", active: "a", share: 0.2)
        let keys = (0 ..< 2000).map { "client-\($0)" }
        let sides = keys.map { canary.routesToCandidate(clientKey: $0) }
        let share = Double(sides.filter { $0 }.count) / Double(keys.count)
        XCTAssertEqual(share, 0.2, accuracy: 0.04, "similar keys still split by the share")
        XCTAssertEqual(keys.map { canary.routesToCandidate(clientKey: $0) }, sides, "the same client, the same side")
    }

    func testTheRuleDecidesOnAccuracyAndHealth() {
        func canary(_ record: (Canary) -> Void) -> Canary.Decision? {
            let canary = Canary(candidate: "b", active: "a", share: 0.5)
            record(canary)
            return canary.judge()
        }
        func judged(_ canary: Canary, _ snapshot: String, right: Int, of total: Int) {
            for index in 0 ..< total { canary.recordFeedback(snapshot: snapshot, correct: index < right, askedAt: Date()) }
        }
        XCTAssertNil(canary { judged($0, "b", right: 19, of: 19); judged($0, "a", right: 0, of: 19) }, "too few judged answers")
        XCTAssertEqual(canary { judged($0, "b", right: 18, of: 20); judged($0, "a", right: 10, of: 20) }?.action, .completed)
        XCTAssertEqual(canary { judged($0, "b", right: 10, of: 20); judged($0, "a", right: 18, of: 20) }?.action, .rolledBack)
        XCTAssertNil(canary { judged($0, "b", right: 15, of: 20); judged($0, "a", right: 16, of: 20) }, "no clear difference yet")
        XCTAssertEqual(canary { judged($0, "b", right: 150, of: 200); judged($0, "a", right: 152, of: 200) }?.action, .completed,
                       "not worse after enough judged answers")
        let failing = canary { canary in
            for index in 0 ..< 60 {
                canary.recordAnswer(snapshot: "b", milliseconds: 10, failed: index < 6)
                canary.recordAnswer(snapshot: "a", milliseconds: 10, failed: false)
            }
        }
        XCTAssertEqual(failing?.action, .rolledBack)
        XCTAssertTrue(failing?.reason.contains("error rate") == true)
        let early = canary { canary in
            for _ in 0 ..< 60 {
                canary.recordAnswer(snapshot: "b", milliseconds: 40, failed: false)
                canary.recordAnswer(snapshot: "a", milliseconds: 10, failed: false)
            }
        }
        XCTAssertNil(early, "sixty answers are too few for a p99: one slow answer would decide")
        let slow = canary { canary in
            for _ in 0 ..< 600 {
                canary.recordAnswer(snapshot: "b", milliseconds: 40, failed: false)
                canary.recordAnswer(snapshot: "a", milliseconds: 10, failed: false)
            }
        }
        XCTAssertTrue(slow?.reason.contains("p99") == true)
        XCTAssertEqual(Canary.Rule.quantile(0.95), 1.6449, accuracy: 0.0001)
    }
}
