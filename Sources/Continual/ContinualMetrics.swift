import Foundation

/// The standard continual-learning summary of an accuracy matrix.
///
/// `matrix[i][j]` is the accuracy on task `j`'s held-out items after learning tasks `0 ... i`; rows are
/// lower-triangular (entries `j > i` are not read). With T tasks:
/// - final average accuracy `A_T = mean_j matrix[T-1][j]`;
/// - MAA, the mean of the average accuracy after each task: `mean_i mean_{j ≤ i} matrix[i][j]`;
/// - BWT, backward transfer: `mean_{j < T-1} (matrix[T-1][j] - matrix[j][j])` (negative means forgetting);
/// - forgetting: `mean_{j < T-1} (max_{j ≤ i < T-1} matrix[i][j] - matrix[T-1][j])`, the drop from each task's best.
public struct ContinualMetrics: Codable, Sendable, Equatable {
    public var finalAverage: Double
    public var meanAverageAccuracy: Double
    public var backwardTransfer: Double
    public var forgetting: Double

    public init(matrix: [[Double]]) {
        let tasks = matrix.count
        precondition(tasks > 0 && matrix.enumerated().allSatisfy { $0.element.count > $0.offset }, "a lower-triangular matrix")
        let last = tasks - 1
        finalAverage = Self.mean((0 ... last).map { matrix[last][$0] })
        meanAverageAccuracy = Self.mean((0 ... last).map { i in Self.mean((0 ... i).map { matrix[i][$0] }) })
        guard tasks > 1 else {
            backwardTransfer = 0
            forgetting = 0
            return
        }
        backwardTransfer = Self.mean((0 ..< last).map { matrix[last][$0] - matrix[$0][$0] })
        forgetting = Self.mean((0 ..< last).map { j in (j ..< last).map { matrix[$0][j] }.max()! - matrix[last][j] })
    }

    private static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
}
