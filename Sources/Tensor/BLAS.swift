import CBLAS
import Synchronization

/// The one place matrix products happen, so the kernel choice, threading and FLOP accounting live here.
public enum BLAS {
    /// FLOPs issued through `gemm` since start-up (for GFLOP/s reports).
    public static let flopCounter = Atomic<Int>(0)

    /// Row-major `C (m×n) = alpha · op(A) · op(B) + beta · C` with op(A) m×k and op(B) k×n.
    @inlinable
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { for row in 0 ..< m { (c + row * ldc).update(repeating: 0, count: n) } }
            return
        }
        flopCounter.add(2 * m * n * k, ordering: .relaxed)
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Tensor form: `c = alpha · op(a) · op(b) + beta · c` for 2-D (or flattened-to-2-D) operands.
    public static func matmul(_ a: Tensor, transposeA: Bool = false, _ b: Tensor, transposeB: Bool = false,
                              into c: Tensor, alpha: Float = 1, beta: Float = 0) {
        let (aRows, aCols) = (a.rows, a.columns)
        let (bRows, bCols) = (b.rows, b.columns)
        let m = transposeA ? aCols : aRows
        let k = transposeA ? aRows : aCols
        let n = transposeB ? bRows : bCols
        precondition((transposeB ? bCols : bRows) == k, "matmul inner sizes differ: \(a.shape) \(b.shape)")
        precondition(c.count == m * n, "matmul output \(c.shape) is not \(m)×\(n)")
        gemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: alpha,
             a: a.data, lda: aCols, b: b.data, ldb: bCols, beta: beta, c: c.data, ldc: n)
    }

    public static var threads: Int { Int(openblas_get_num_threads()) }
    public static func setThreads(_ count: Int) { openblas_set_num_threads(Int32(count)) }

    /// `body` with BLAS on `count` threads, then the threads as they were. Process-wide: anything else
    /// multiplying matrices meanwhile gets `count` too.
    public static func withThreads<Result>(_ count: Int, _ body: () throws -> Result) rethrows -> Result {
        let previous = threads
        setThreads(count)
        defer { setThreads(previous) }
        return try body()
    }
    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var configuration: String { String(cString: openblas_get_config()) }
}
