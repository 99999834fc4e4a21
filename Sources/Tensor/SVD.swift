import CBLAS

/// Singular value decomposition through LAPACK (sgesdd in OpenBLAS).
public enum SVD {
    public struct Result {
        /// (m, k) left singular vectors as columns, k = min(m, n).
        public var u: Tensor
        /// k singular values, largest first.
        public var values: [Float]
        /// (k, n) right singular vectors as rows.
        public var vt: Tensor
    }

    public enum Failure: Error, CustomStringConvertible {
        case lapack(Int32)
        public var description: String { "SVD did not converge (LAPACK info \(self))" }
    }

    /// Thin SVD of a row-major (m, n) matrix: A = U · diag(S) · Vᵀ.
    public static func decompose(_ a: Tensor) throws -> Result {
        let m = a.rows, n = a.columns, k = min(m, n)
        // LAPACK is column-major: the row-major A (m×n) is the column-major Aᵀ (n×m); decompose Aᵀ = V S Uᵀ.
        let work = a.copy()
        var rows = Int32(n), columns = Int32(m), lda = Int32(n)
        let values = Tensor(zeros: [k])
        let vColumnMajor = Tensor(zeros: [k, n])  // column-major n×k "U" of Aᵀ: k columns of length n = V
        let utColumnMajor = Tensor(zeros: [m, k])  // column-major k×m "Vᵀ" of Aᵀ = Uᵀ
        var ldu = Int32(n), ldvt = Int32(k)
        var info: Int32 = 0
        var jobz = CChar(UInt8(ascii: "S"))
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var query: Float = 0
        var lwork: Int32 = -1
        sgesdd_(&jobz, &rows, &columns, work.data, &lda, values.data, vColumnMajor.data, &ldu, utColumnMajor.data, &ldvt,
                &query, &lwork, &iwork, &info, 1)
        lwork = Int32(query) + 1
        var buffer = [Float](repeating: 0, count: Int(lwork))
        sgesdd_(&jobz, &rows, &columns, work.data, &lda, values.data, vColumnMajor.data, &ldu, utColumnMajor.data, &ldvt,
                &buffer, &lwork, &iwork, &info, 1)
        guard info == 0 else { throw Failure.lapack(info) }
        // vColumnMajor holds V column by column: memory is (k, n) row-major = Vᵀ. utColumnMajor is column-major
        // (k × m) with leading dimension k: memory is (m, k) row-major = U.
        return Result(u: utColumnMajor, values: values.toArray(), vt: vColumnMajor)
    }

    /// The smallest number of leading singular values holding `energy` of Σ s².
    public static func rank(for values: [Float], energy: Float) -> Int {
        let total = values.reduce(0) { $0 + $1 * $1 }
        guard total > 0 else { return 0 }
        var running: Float = 0
        for (index, value) in values.enumerated() {
            running += value * value
            if running >= energy * total { return index + 1 }
        }
        return values.count
    }
}
