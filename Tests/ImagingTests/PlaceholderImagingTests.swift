import XCTest
@testable import Imaging

final class ImagingModuleTests: XCTestCase {
    func testModuleLoads() {}
}
