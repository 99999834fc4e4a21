import Foundation
import XCTest
import Server
@testable import mneme

/// `mneme serve`'s options become the server's configuration, each checked with a message naming it.
final class ServeCommandTests: XCTestCase {
    private var model: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/default").path
    }

    private func configuration(_ arguments: [String]) throws -> ServerConfiguration {
        try Serve.parse(["--model", model] + arguments).configuration()
    }

    private func refusal(_ arguments: [String]) -> String? {
        do { _ = try configuration(arguments); return nil } catch { return "\(error)" }
    }

    func testOptionsBecomeTheConfiguration() throws {
        let configuration = try configuration([
            "--data", "/tmp/d", "--port", "18123", "--role", "tuner", "--tune-share", "0.5", "--tune-turn-ms", "10",
            "--keep-snapshots", "3", "--max-spooled-mb", "100", "--corrections-threshold", "7", "--feedback-canary", "0.1",
            "--feedback-keep-hours", "2", "--rank", "16", "--lr", "0.0005", "--targets", "q_proj,v_proj",
        ])
        XCTAssertEqual(configuration.dataDirectory.path, "/tmp/d")
        XCTAssertEqual(configuration.port, 18123)
        XCTAssertEqual(configuration.role, .tuner)
        XCTAssertEqual(configuration.tuner.minimumShare, 0.5)
        XCTAssertEqual(configuration.tuner.turn, .milliseconds(10))
        XCTAssertEqual(configuration.tuner.keepSnapshots, 3)
        XCTAssertEqual(configuration.maxSpooledBodyBytes, 100 << 20)
        XCTAssertEqual(configuration.correctionsThreshold, 7)
        XCTAssertEqual(configuration.tuner.feedbackCanaryShare, 0.1)
        XCTAssertEqual(configuration.feedbackKeepTime, .seconds(7200))
        XCTAssertEqual(configuration.tuner.learning.adapter.rank, 16)
        XCTAssertEqual(configuration.tuner.learning.learningRate, 0.0005)
        XCTAssertEqual(configuration.tuner.learning.adapter.targets, ["q_proj", "v_proj"])
    }

    func testTheDefaultsAreTheDocumentedOnes() throws {
        let configuration = try configuration([])
        XCTAssertEqual(configuration.port, 8080)
        XCTAssertEqual(configuration.tuner.minimumShare, 0.35)
        XCTAssertEqual(configuration.tuner.defaultStrategy, "branchlora")
        XCTAssertEqual(configuration.tuner.learning.adapter.rank, 32)
        XCTAssertEqual(configuration.tuner.learning.adapter.ownRank, 32)
        XCTAssertEqual(configuration.tuner.learning.learningRate, 5e-4)
        XCTAssertEqual(configuration.tuner.learning.adapter.targets.count, 7)
    }

    func testEachWrongOptionIsNamed() {
        XCTAssertEqual(refusal(["--role", "king"])?.contains("--role must be one of all, tuner, replica"), true)
        XCTAssertEqual(refusal(["--default-strategy", "magic"])?.contains("--default-strategy"), true)
        XCTAssertEqual(refusal(["--tune-share", "1.5"])?.contains("--tune-share"), true)
        XCTAssertEqual(refusal(["--tune-turn-ms", "0"])?.contains("--tune-turn-ms"), true)
        XCTAssertEqual(refusal(["--max-buffered-mb", "8"])?.contains("--max-buffered-mb"), true)
        XCTAssertEqual(refusal(["--feedback-canary", "1"])?.contains("--feedback-canary"), true)
        XCTAssertEqual(refusal(["--keep-snapshots=-1"])?.contains("--keep-snapshots"), true)
        XCTAssertEqual(refusal(["--own-rank=-1"])?.contains("--own-rank"), true)
        XCTAssertNil(refusal([]))
    }
}
