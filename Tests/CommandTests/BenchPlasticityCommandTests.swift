import Continual
import LLaVA
import XCTest
@testable import mneme

/// `mneme bench plasticity`'s adapter search (a) starts from the server's own setting, so (a) always says how far
/// the defaults are from the best adapter found; a change of defaults must change the search too.
final class BenchPlasticityCommandTests: XCTestCase {
    func testTheSearchStartsFromTheServersDefaults() throws {
        let search = try BenchPlasticity.parse([]).search
        let first = try BenchPlasticity.configuration(String(try XCTUnwrap(search.split(separator: " ").first)))
        let defaults = TaskLearning.Settings()
        XCTAssertEqual(first.adapter.rank, defaults.adapter.rank)
        XCTAssertEqual(first.adapter.alpha, defaults.adapter.alpha)
        XCTAssertEqual(first.adapter.targets, defaults.adapter.targets)
        XCTAssertEqual(first.lr, defaults.learningRate)
        XCTAssertThrowsError(try BenchPlasticity.configuration("32:all")) { XCTAssertTrue("\($0)".contains("rank:targets:lr"), "\($0)") }
    }
}
