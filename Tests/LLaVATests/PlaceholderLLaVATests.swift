import XCTest
@testable import LLaVA

final class LLaVAModuleTests: XCTestCase {
    func testModuleLoads() {}
}
