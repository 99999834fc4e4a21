/// Fully connected layer in PyTorch's layout: `weight` is (out, in), `y = x · Wᵀ + b`.
public enum Linear {
    /// out (N, O) = input (N, I) · weight (O, I)ᵀ + bias (O)
    public static func forward(out: Tensor, input: Tensor, weight: Tensor, bias: Tensor?) {
        let rows = input.rows, inFeatures = input.columns, outFeatures = weight.shape[0]
        precondition(weight.columns == inFeatures && out.count == rows * outFeatures, "linear \(input.shape)·\(weight.shape) into \(out.shape)")
        if let bias {
            for row in 0 ..< rows { (out.data + row * outFeatures).update(from: bias.data, count: outFeatures) }
        }
        BLAS.gemm(transB: true, m: rows, n: outFeatures, k: inFeatures,
                  a: input.data, lda: inFeatures, b: weight.data, ldb: inFeatures,
                  beta: bias == nil ? 0 : 1, c: out.data, ldc: outFeatures)
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
