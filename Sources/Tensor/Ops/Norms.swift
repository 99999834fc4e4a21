import Foundation

/// LayerNorm over the last dimension (CLIP).
public enum LayerNorm {
    /// out = (x − mean) · rstd · weight + bias, per row. `mean`/`rstd` (N) are saved for backward when given.
    public static func forward(out: Tensor, input: Tensor, weight: Tensor, bias: Tensor, eps: Float,
                               mean: Tensor? = nil, rstd: Tensor? = nil) {
        let rows = input.rows, width = input.columns
        let w = weight.data, b = bias.data
        for row in 0 ..< rows {
            let x = input.data + row * width, y = out.data + row * width
            var sum: Float = 0
            for i in 0 ..< width { sum += x[i] }
            let m = sum / Float(width)
            var variance: Float = 0
            for i in 0 ..< width { let d = x[i] - m; variance += d * d }
            let r = 1 / (variance / Float(width) + eps).squareRoot()
            for i in 0 ..< width { y[i] = (x[i] - m) * r * w[i] + b[i] }
            mean?.data[row] = m
            rstd?.data[row] = r
        }
    }

    /// Adds into dInput, dWeight, dBias.
    public static func backward(dInput: Tensor, dWeight: Tensor?, dBias: Tensor?, dOut: Tensor, input: Tensor,
                                weight: Tensor, mean: Tensor, rstd: Tensor) {
        let rows = input.rows, width = input.columns
        let w = weight.data
        for row in 0 ..< rows {
            let x = input.data + row * width, g = dOut.data + row * width, dx = dInput.data + row * width
            let m = mean.data[row], r = rstd.data[row]
            var meanG: Float = 0, meanGX: Float = 0
            for i in 0 ..< width {
                let xhat = (x[i] - m) * r
                let gw = g[i] * w[i]
                meanG += gw
                meanGX += gw * xhat
            }
            meanG /= Float(width)
            meanGX /= Float(width)
            for i in 0 ..< width {
                let xhat = (x[i] - m) * r
                dx[i] += (g[i] * w[i] - meanG - xhat * meanGX) * r
                dWeight?.data[i] += g[i] * xhat
                dBias?.data[i] += g[i]
            }
        }
    }
}

/// RMSNorm over the last dimension (Llama): y = x / sqrt(mean(x²) + eps) · weight.
public enum RMSNorm {
    public static func forward(out: Tensor, input: Tensor, weight: Tensor, eps: Float, rstd: Tensor? = nil) {
        let rows = input.rows, width = input.columns
        let w = weight.data, rstdData = rstd?.data
        Parallel.forRanges(rows, work: rows * width * 3) { range in
            for row in range {
                let x = input.data + row * width, y = out.data + row * width
                var squares: Float = 0
                for i in 0 ..< width { squares += x[i] * x[i] }
                let r = 1 / (squares / Float(width) + eps).squareRoot()
                for i in 0 ..< width { y[i] = w[i] * (x[i] * r) }
                rstdData?[row] = r
            }
        }
    }

    public static func backward(dInput: Tensor, dWeight: Tensor?, dOut: Tensor, input: Tensor, weight: Tensor, rstd: Tensor) {
        let rows = input.rows, width = input.columns
        let w = weight.data
        // Each chunk sums its rows' weight gradient privately; the partial sums are added at the end.
        let partials = dWeight.map { _ in Tensor(zeros: [Parallel.workers, width]) }
        let chunkOf = UncheckedBox(ChunkCounter())
        Parallel.forRanges(rows, work: rows * width * 5) { range in
            let partial = partials.map { $0.data + chunkOf.value.next() * width }
            for row in range {
                let x = input.data + row * width, g = dOut.data + row * width, dx = dInput.data + row * width
                let r = rstd.data[row]
                var dot: Float = 0
                for i in 0 ..< width { dot += g[i] * w[i] * x[i] }
                let coefficient = dot * r * r * r / Float(width)
                for i in 0 ..< width {
                    dx[i] += g[i] * w[i] * r - x[i] * coefficient
                    partial?[i] += g[i] * x[i] * r
                }
            }
        }
        if let dWeight, let partials {
            for chunk in 0 ..< Parallel.workers {
                for i in 0 ..< width { dWeight.data[i] += partials.data[chunk * width + i] }
            }
        }
    }
}

/// Hands out distinct chunk slots to concurrent workers.
final class ChunkCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func next() -> Int { lock.withLock { defer { value += 1 }; return value } }
}
