import XCTest
@testable import ShapesWorld

final class ShapesWorldPlaceholderTests: XCTestCase {
    func testModuleLoads() {}
}
