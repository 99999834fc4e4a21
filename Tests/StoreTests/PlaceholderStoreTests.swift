import XCTest
@testable import Store

final class StorePlaceholderTests: XCTestCase {
    func testModuleLoads() {}
}
