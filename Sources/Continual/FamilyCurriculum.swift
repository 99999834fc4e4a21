/// Shares of a multi-task training mix set by held-out error: after each evaluation, a family's weight is
/// its error plus `floor`. The families furthest from solved get the most items, and solved ones keep a
/// little practice so that they are not forgotten.
public struct FamilyCurriculum: Sendable, Equatable {
    public var floor: Double

    public init(floor: Double = 0.1) {
        precondition(floor > 0, "a zero floor would stop drawing solved families")
        self.floor = floor
    }

    /// One weight per family, in `families`' order; a family without an accuracy counts as unsolved.
    public func weights(families: [String], accuracy: [String: Double]) -> [Double] {
        families.map { family in 1 - min(max(accuracy[family] ?? 0, 0), 1) + floor }
    }

    /// Weights as the fractions of the items each family gets.
    public static func shares(_ weights: [Double]) -> [Double] {
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }
}
