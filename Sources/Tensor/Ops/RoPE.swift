import Foundation

/// Rotary position embedding in Hugging Face Llama's "rotate half" layout: dimension i pairs with i + D/2.
public final class RotaryEmbedding: @unchecked Sendable {
    public let headDim: Int
    public let maxPositions: Int
    private let cosines: [Float]  // (maxPositions, D/2)
    private let sines: [Float]

    public init(headDim: Int, theta: Float, maxPositions: Int) {
        self.headDim = headDim
        self.maxPositions = maxPositions
        let half = headDim / 2
        // Same float32 arithmetic as transformers: inv_freq in float32, angle = position · inv_freq in float32.
        let inverseFrequencies = (0 ..< half).map { i in Float(1.0 / pow(Double(theta), Double(2 * i) / Double(headDim))) }
        var cosines = [Float](repeating: 0, count: maxPositions * half)
        var sines = cosines
        for position in 0 ..< maxPositions {
            for i in 0 ..< half {
                let angle = Float(position) * inverseFrequencies[i]
                cosines[position * half + i] = Float(cos(Double(angle)))
                sines[position * half + i] = Float(sin(Double(angle)))
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// Rotates every head of `x` (T, heads·D) in place; row t is at position `positions[t]`.
    public func apply(_ x: Tensor, heads: Int, positions: [Int]) {
        rotate(x, heads: heads, positions: positions, direction: 1)
    }

    /// The gradient of a rotation is the inverse rotation: applied in place to dX.
    public func applyBackward(_ gradient: Tensor, heads: Int, positions: [Int]) {
        rotate(gradient, heads: heads, positions: positions, direction: -1)
    }

    private func rotate(_ x: Tensor, heads: Int, positions: [Int], direction: Float) {
        let half = headDim / 2, width = heads * headDim
        precondition(x.columns == width && x.rows == positions.count, "rope on \(x.shape) with \(positions.count) positions")
        cosines.withUnsafeBufferPointer { cosTable in
            sines.withUnsafeBufferPointer { sinTable in
                for (row, position) in positions.enumerated() {
                    precondition(position < maxPositions, "position \(position) beyond \(maxPositions)")
                    let c = cosTable.baseAddress! + position * half, s = sinTable.baseAddress! + position * half
                    for head in 0 ..< heads {
                        let v = x.data + row * width + head * headDim
                        for i in 0 ..< half {
                            let a = v[i], b = v[i + half], sine = direction * s[i]
                            v[i] = a * c[i] - b * sine
                            v[i + half] = b * c[i] + a * sine
                        }
                    }
                }
            }
        }
    }
}
