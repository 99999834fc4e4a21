import Tensor

extension Dataset {
    /// A deterministic train / held-out split of `count` items, as indices.
    ///
    /// The held-out part has `max(round(evalFraction · count), min(minimumEval, count / 2))` items (never
    /// more than `count`; `count / 2` rounds down): the fraction, but at least `minimumEval` where that
    /// leaves half the items for training. Which items: the first ones of a Fisher–Yates shuffle of
    /// `0 ..< count` driven by `SplitMix64(seed)`. Both lists come back in ascending order, and the same
    /// arguments give the same split on every machine.
    ///
    /// docs/DESIGN.md §4's defaults: `split(count: n, evalFraction: 0.1, minimumEval: 50, seed: ...)`.
    public static func split(count: Int, evalFraction: Double, minimumEval: Int,
                             seed: UInt64) -> (train: [Int], eval: [Int]) {
        precondition(count >= 0, "count must not be negative")
        precondition(evalFraction >= 0 && evalFraction <= 1, "evalFraction must be in 0...1")
        precondition(minimumEval >= 0, "minimumEval must not be negative")
        let byFraction = Int((evalFraction * Double(count)).rounded(.toNearestOrAwayFromZero))
        let evalCount = min(count, max(byFraction, min(minimumEval, count / 2)))
        var order = Array(0 ..< count)
        var generator = SplitMix64(seed: seed)
        var index = count - 1
        while index > 0 {
            order.swapAt(index, generator.next(below: index + 1))
            index -= 1
        }
        return (train: order[evalCount...].sorted(), eval: order[..<evalCount].sorted())
    }
}
