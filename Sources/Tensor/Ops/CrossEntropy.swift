import Foundation

/// Softmax cross-entropy over rows of logits.
public enum CrossEntropy {
    /// Mean loss over rows; `probabilities` (N, V) receives the softmax for backward.
    public static func forward(logits: Tensor, targets: [Int], probabilities: Tensor) -> Float {
        let rows = logits.rows, width = logits.columns
        precondition(targets.count == rows, "\(targets.count) targets for \(rows) rows")
        var total: Double = 0
        for row in 0 ..< rows {
            let x = logits.data + row * width, p = probabilities.data + row * width
            p.update(from: x, count: width)
            Softmax.row(p, count: width, total: width)
            total -= log(Double(max(p[targets[row]], Float.leastNormalMagnitude)))
        }
        return Float(total / Double(max(rows, 1)))
    }

    /// dLogits = (p − onehot) · weight per row (weight = 1/N for the mean loss).
    public static func backward(dLogits: Tensor, probabilities: Tensor, targets: [Int], weight: Float) {
        let width = probabilities.columns
        for (row, target) in targets.enumerated() {
            let p = probabilities.data + row * width, d = dLogits.data + row * width
            for i in 0 ..< width { d[i] += weight * p[i] }
            d[target] -= weight
        }
    }

    /// Mean over rows of −Σ t log p for target distributions t (N, V), given the model's softmax p.
    public static func softLoss(probabilities: Tensor, targets: Tensor) -> Float {
        var total: Double = 0
        for i in 0 ..< probabilities.count where targets.data[i] > 0 {
            total -= Double(targets.data[i]) * log(Double(max(probabilities.data[i], Float.leastNormalMagnitude)))
        }
        return Float(total / Double(max(probabilities.rows, 1)))
    }

    /// dLogits += weight · (p − t) per row, for target distributions t that sum to one.
    public static func softBackward(dLogits: Tensor, probabilities: Tensor, targets: Tensor, weight: Float) {
        for i in 0 ..< probabilities.count { dLogits.data[i] += weight * (probabilities.data[i] - targets.data[i]) }
    }
}
