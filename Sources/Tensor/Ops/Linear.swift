/// Fully connected layer in PyTorch's layout: `weight` is (out, in), `y = x · Wᵀ + b`.
public enum Linear {
    /// out (N, O) = input (N, I) · weight (O, I)ᵀ + bias (O)
    public static func forward(out: Tensor, input: Tensor, weight: Tensor, bias: Tensor?) {
        precondition(weight.columns == input.columns && out.count == input.rows * weight.shape[0], "linear \(input.shape)·\(weight.shape) into \(out.shape)")
        forward(out: out, input: input, weights: weight.data, outFeatures: weight.shape[0], bias: bias)
    }

    /// out (N, O) = input (N, I) · W (O, I)ᵀ + bias (O), or out += input · Wᵀ when `accumulate` (no bias then),
    /// for float32 weights at `weights`, O rows of I values: the one sgemm every float32 product goes through.
    static func forward(out: Tensor, input: Tensor, weights: UnsafePointer<Float>, outFeatures: Int, bias: Tensor?, accumulate: Bool = false) {
        let rows = input.rows, inFeatures = input.columns
        precondition(bias == nil || !accumulate, "a bias is added once, not accumulated")
        if let bias {
            for row in 0 ..< rows { (out.data + row * outFeatures).update(from: bias.data, count: outFeatures) }
        }
        BLAS.gemm(transB: true, m: rows, n: outFeatures, k: inFeatures,
                  a: input.data, lda: inFeatures, b: weights, ldb: inFeatures,
                  beta: bias == nil && !accumulate ? 0 : 1, c: out.data, ldc: outFeatures)
    }

    /// Adds the gradients of `forward`: dInput += dOut · W, dWeight += dOutᵀ · input, dBias += Σ dOut.
    /// Any of the three may be nil when not needed (frozen weights cost no weight-gradient compute).
    public static func backward(dInput: Tensor?, dWeight: Tensor?, dBias: Tensor?, dOut: Tensor, input: Tensor, weight: Tensor) {
        let rows = input.rows, inFeatures = input.columns, outFeatures = weight.shape[0]
        if let dInput {
            BLAS.gemm(m: rows, n: inFeatures, k: outFeatures, a: dOut.data, lda: outFeatures,
                      b: weight.data, ldb: inFeatures, beta: 1, c: dInput.data, ldc: inFeatures)
        }
        if let dWeight {
            BLAS.gemm(transA: true, m: outFeatures, n: inFeatures, k: rows, a: dOut.data, lda: outFeatures,
                      b: input.data, ldb: inFeatures, beta: 1, c: dWeight.data, ldc: inFeatures)
        }
        if let dBias {
            let db = dBias.data, g = dOut.data
            for row in 0 ..< rows {
                let line = g + row * outFeatures
                for o in 0 ..< outFeatures { db[o] += line[o] }
            }
        }
    }
}
