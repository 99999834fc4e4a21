import Continual
import XCTest

final class ContinualMetricsTests: XCTestCase {
    func testSummaryOfAHandWorkedMatrix() {
        let metrics = ContinualMetrics(matrix: [
            [0.9],
            [0.7, 0.8],
            [0.6, 0.9, 1.0],
        ])
        XCTAssertEqual(metrics.finalAverage, (0.6 + 0.9 + 1.0) / 3, accuracy: 1e-12)
        XCTAssertEqual(metrics.meanAverageAccuracy, (0.9 + 0.75 + 2.5 / 3) / 3, accuracy: 1e-12)
        // BWT: task 0 went 0.9 → 0.6, task 1 went 0.8 → 0.9.
        XCTAssertEqual(metrics.backwardTransfer, (-0.3 + 0.1) / 2, accuracy: 1e-12)
        // Forgetting from each task's best before the end: task 0 best 0.9 (→ 0.6), task 1 best 0.8 (→ 0.9).
        XCTAssertEqual(metrics.forgetting, (0.3 - 0.1) / 2, accuracy: 1e-12)
    }

    func testNoForgettingWhenNothingDrops() {
        let metrics = ContinualMetrics(matrix: [[1], [1, 0.5], [1, 0.5, 0.25]])
        XCTAssertEqual(metrics.backwardTransfer, 0)
        XCTAssertEqual(metrics.forgetting, 0)
        XCTAssertEqual(metrics.finalAverage, 1.75 / 3, accuracy: 1e-12)
    }

    func testForgettingUsesTheBestEarlierRowNotTheDiagonal() {
        // Task 0 improved after task 1 (0.5 → 0.9) then fell to 0.4: forgetting 0.5, BWT only -0.1.
        let metrics = ContinualMetrics(matrix: [[0.5], [0.9, 1], [0.4, 1, 1]])
        XCTAssertEqual(metrics.forgetting, (0.5 + 0) / 2, accuracy: 1e-12)
        XCTAssertEqual(metrics.backwardTransfer, (-0.1 + 0) / 2, accuracy: 1e-12)
    }

    func testOneTaskHasNoTransfer() {
        let metrics = ContinualMetrics(matrix: [[0.7]])
        XCTAssertEqual(metrics.finalAverage, 0.7, accuracy: 1e-12)
        XCTAssertEqual(metrics.meanAverageAccuracy, 0.7, accuracy: 1e-12)
        XCTAssertEqual(metrics.backwardTransfer, 0)
        XCTAssertEqual(metrics.forgetting, 0)
    }
}
