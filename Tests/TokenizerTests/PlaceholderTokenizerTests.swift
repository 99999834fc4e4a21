import XCTest
@testable import Tokenizer

final class TokenizerModuleTests: XCTestCase {
    func testModuleLoads() {}
}
