import Foundation
import XCTest
@testable import Server

/// The queries kept for feedback: bounded by count and bytes, oldest first; an id once held is expired, not unknown.
final class QueryLogTests: XCTestCase {
    func testTheOldestGoFirstAndAreThenExpired() throws {
        let log = QueryLog(limits: .init(entries: 3, bytes: 1 << 20, age: .seconds(3600)))
        let ids = (0 ..< 5).map { log.record(snapshot: "s", task: "base", question: "q\($0)", answer: "a", image: Data([1, 2, 3])) }
        for id in ids.prefix(2) {
            guard case .expired = log.lookUp(id) else { return XCTFail("\(id) was dropped: expired") }
        }
        for (index, id) in ids.enumerated().dropFirst(2) {
            guard case let .found(entry) = log.lookUp(id) else { return XCTFail("\(id) is held") }
            XCTAssertEqual(entry.question, "q\(index)")
        }
        guard case .unknown = log.lookUp("q-nothing"), case .unknown = log.lookUp("../etc") else { return XCTFail("never held: unknown") }
        XCTAssertEqual(log.usage.dropped, 2)
        XCTAssertEqual(log.answered, ["s": ["base": 5]])
    }

    func testBytesBoundTheLog() {
        let log = QueryLog(limits: .init(entries: 100, bytes: 10_000, age: .seconds(3600)))
        for _ in 0 ..< 10 { _ = log.record(snapshot: "s", task: "t", question: "q", answer: "a", image: Data(count: 3000)) }
        XCTAssertLessThanOrEqual(log.usage.bytes, 10_000)
        XCTAssertEqual(log.usage.held, 3)
    }

    func testWilsonInterval() {
        let (low, high) = OnlineAccuracy.wilson(correct: 8, of: 10)
        XCTAssertEqual(low, 0.490, accuracy: 0.001)
        XCTAssertEqual(high, 0.943, accuracy: 0.001)
        XCTAssertEqual(OnlineAccuracy.wilson(correct: 0, of: 0).high, 1)
    }
}
