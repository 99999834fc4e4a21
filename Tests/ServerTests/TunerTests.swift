import XCTest
@testable import Server

/// The tuner's share of time under load: it never waits longer than keeps its share, nor than the cap.
final class TunerTests: XCTestCase {
    func testWaitsKeepTheTunersShareOfTime() {
        XCTAssertEqual(Tuner.allowedWait(worked: .milliseconds(10), atMost: .seconds(1), share: 0.25), .milliseconds(30),
                       "a quarter of the time: three times as long as it worked")
        XCTAssertEqual(Tuner.allowedWait(worked: .milliseconds(10), atMost: .seconds(1), share: 0.5), .milliseconds(10))
        XCTAssertEqual(Tuner.allowedWait(worked: .seconds(2), atMost: .seconds(1), share: 0.25), .seconds(1), "never past the cap")
        XCTAssertEqual(Tuner.allowedWait(worked: .milliseconds(10), atMost: .seconds(1), share: 0), .seconds(1), "share 0: queries only")
        XCTAssertEqual(Tuner.allowedWait(worked: .milliseconds(10), atMost: .seconds(1), share: 1), .zero, "share 1: never waits")
    }
}
