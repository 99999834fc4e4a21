import Foundation
import XCTest
@testable import Tokenizer

/// A speed sanity check: prints how long a ~1000-character prompt takes to encode with each fixture
/// tokenizer. Nothing is asserted about time (machines differ; use a release build for real numbers).
final class TokenizerSpeedTests: XCTestCase {
    func testEncodeSpeedIsReported() throws {
        for name in TokenizerFixtureTests.names.prefix(5) {
            let (tokenizer, reference) = try TokenizerFixtureTests.load(name)
            // The longest fixture strings, mixed: words, unicode, emoji, whitespace runs, added tokens.
            let prompt = String(reference.cases.map(\.text).sorted { $0.count > $1.count }.prefix(3).joined(separator: " ")
                .prefix(1000))
            let expected = tokenizer.encode(prompt)
            let rounds = 20
            let start = Date()
            for _ in 0..<rounds {
                XCTAssertEqual(tokenizer.encode(prompt).count, expected.count)
            }
            let perPrompt = Date().timeIntervalSince(start) / Double(rounds)
            print(String(format: "%@: %.3f ms per %d-character prompt (%d ids)", name, perPrompt * 1000,
                         prompt.unicodeScalars.count, expected.count))
        }
    }
}
