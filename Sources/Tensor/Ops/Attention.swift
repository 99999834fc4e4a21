import CVectorKernels
import Foundation

/// Scaled dot-product attention for one sequence, with grouped-query heads and an optional causal mask.
///
/// Layouts: queries (T, H·D) for positions `offset ..< offset+T`; keys and values (S, KVH·D), of which the
/// first `keyCount` rows are valid (a KV cache may be longer); output (T, H·D).
public enum Attention {
    public struct Shape: Sendable {
        public var heads: Int
        public var kvHeads: Int
        public var headDim: Int
        public var causal: Bool
        public init(heads: Int, kvHeads: Int, headDim: Int, causal: Bool) {
            self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim; self.causal = causal
        }
        var scale: Float { 1 / Float(headDim).squareRoot() }
    }

    /// `probabilities`, when given, receives (H, T, keyCount) for backward. Without it (inference), heads run on
    /// the cores side by side, each on single-threaded BLAS, when there is enough work: the per-head products
    /// are too small for BLAS's own threads, which mostly wait (`headsInParallel` forces either way, for tests).
    public static func forward(out: Tensor, queries: Tensor, keys: Tensor, values: Tensor, keyCount: Int, offset: Int,
                               shape: Shape, probabilities: Tensor? = nil, headsInParallel: Bool? = nil) {
        let t = queries.rows, s = keyCount
        let parallel = probabilities == nil && shape.heads > 1 && Parallel.workers > 1
            && (headsInParallel ?? (t * s * shape.headDim * shape.heads >= 1 << 20))
        guard parallel else {
            forward(heads: 0 ..< shape.heads, out: out, queries: queries, keys: keys, values: values, keyCount: keyCount, offset: offset,
                    shape: shape, probabilities: probabilities)
            return
        }
        BLAS.withThreads(1) {
            Parallel.forRanges(shape.heads, work: Int.max) { heads in
                forward(heads: heads, out: out, queries: queries, keys: keys, values: values, keyCount: keyCount, offset: offset,
                        shape: shape, probabilities: nil)
            }
        }
    }

    private static func forward(heads: Range<Int>, out: Tensor, queries: Tensor, keys: Tensor, values: Tensor, keyCount: Int,
                                offset: Int, shape: Shape, probabilities: Tensor?) {
        let t = queries.rows, s = keyCount, d = shape.headDim
        let qWidth = shape.heads * d, kvWidth = shape.kvHeads * d
        let group = shape.heads / shape.kvHeads
        let scratch = probabilities == nil ? Tensor(zeros: [t, s]) : nil
        for head in heads {
            let kvHead = head / group
            let scores = probabilities.map { $0.data + head * t * s } ?? scratch!.data
            // scores (T, S) = scale · Q_h (T, D) · K_hᵀ (D, S)
            BLAS.gemm(transB: true, m: t, n: s, k: d, alpha: shape.scale,
                      a: queries.data + head * d, lda: qWidth, b: keys.data + kvHead * d, ldb: kvWidth,
                      c: scores, ldc: s)
            for row in 0 ..< t {
                let visible = shape.causal ? min(s, offset + row + 1) : s
                Softmax.row(scores + row * s, count: visible, total: s)
            }
            // out_h (T, D) = P (T, S) · V_h (S, D)
            BLAS.gemm(m: t, n: d, k: s, a: scores, lda: s, b: values.data + kvHead * d, ldb: kvWidth,
                      c: out.data + head * d, ldc: qWidth)
        }
    }

    /// Adds into dQueries, dKeys, dValues (all rows of keys/values are the `keyCount` valid ones).
    /// `dProbabilities` (heads, T, S), when given, is a loss's gradient on the attention probabilities
    /// themselves (attention supervision), added to the one that flows back from the output.
    public static func backward(dQueries: Tensor, dKeys: Tensor, dValues: Tensor, dOut: Tensor, queries: Tensor,
                                keys: Tensor, values: Tensor, probabilities: Tensor, shape: Shape, dProbabilities: Tensor? = nil) {
        let t = queries.rows, s = keys.rows, d = shape.headDim
        let qWidth = shape.heads * d, kvWidth = shape.kvHeads * d
        let group = shape.heads / shape.kvHeads
        let dScores = Tensor(zeros: [t, s])
        for head in 0 ..< shape.heads {
            let kvHead = head / group
            let p = probabilities.data + head * t * s
            // dV_h += Pᵀ · dO_h
            BLAS.gemm(transA: true, m: s, n: d, k: t, a: p, lda: s, b: dOut.data + head * d, ldb: qWidth,
                      beta: 1, c: dValues.data + kvHead * d, ldc: kvWidth)
            // dP = dO_h · V_hᵀ
            BLAS.gemm(transB: true, m: t, n: s, k: d, a: dOut.data + head * d, lda: qWidth,
                      b: values.data + kvHead * d, ldb: kvWidth, c: dScores.data, ldc: s)
            if let dProbabilities {
                let extra = dProbabilities.data + head * t * s
                for i in 0 ..< t * s { dScores.data[i] += extra[i] }
            }
            for row in 0 ..< t {
                Softmax.rowBackward(dScores.data + row * s, probabilities: p + row * s, count: s)
            }
            // dQ_h += scale · dS · K_h ; dK_h += scale · dSᵀ · Q_h
            BLAS.gemm(m: t, n: d, k: s, alpha: shape.scale, a: dScores.data, lda: s, b: keys.data + kvHead * d,
                      ldb: kvWidth, beta: 1, c: dQueries.data + head * d, ldc: qWidth)
            BLAS.gemm(transA: true, m: s, n: d, k: t, alpha: shape.scale, a: dScores.data, lda: s,
                      b: queries.data + head * d, ldb: qWidth, beta: 1, c: dKeys.data + kvHead * d, ldc: kvWidth)
        }
    }
}

/// Numerically stable softmax on rows.
public enum Softmax {
    /// Softmax over the first `count` entries; entries `count ..< total` (masked) become 0.
    /// Through `mneme_softmax_row` (C, with an AVX2 path): with scalar `expf` in Swift the softmax rows took a
    /// sixth of a query at the largest model sizes.
    @inline(__always)
    public static func row(_ x: UnsafeMutablePointer<Float>, count: Int, total: Int) {
        mneme_softmax_row(x, Int32(count), Int32(total))
    }

    /// In place: dX = P ⊙ (dP − Σ dP ⊙ P), given dP in `gradient`.
    @inline(__always)
    public static func rowBackward(_ gradient: UnsafeMutablePointer<Float>, probabilities p: UnsafePointer<Float>, count: Int) {
        var dot: Float = 0
        for i in 0 ..< count { dot += gradient[i] * p[i] }
        for i in 0 ..< count { gradient[i] = p[i] * (gradient[i] - dot) }
    }

    /// Row-wise log-softmax of `logits` (N, V) into `out`.
    public static func logSoftmax(out: Tensor, logits: Tensor) {
        let rows = logits.rows, width = logits.columns
        for r in 0 ..< rows {
            let x = logits.data + r * width, y = out.data + r * width
            var maximum = -Float.infinity
            for i in 0 ..< width { maximum = max(maximum, x[i]) }
            var sum: Double = 0
            for i in 0 ..< width { sum += Double(expf(x[i] - maximum)) }
            let logSum = maximum + Float(log(sum))
            for i in 0 ..< width { y[i] = x[i] - logSum }
        }
    }
}
