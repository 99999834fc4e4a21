import XCTest
@testable import Datasets

final class DatasetsPlaceholderTests: XCTestCase {
    func testModuleLoads() {}
}
