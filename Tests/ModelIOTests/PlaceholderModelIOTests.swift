import XCTest
@testable import ModelIO

final class ModelIOModuleTests: XCTestCase {
    func testModuleLoads() {}
}
