import XCTest
@testable import Tensor

final class SVDTests: XCTestCase {
    func testReconstructsAndIsOrthonormal() throws {
        var generator = SplitMix(seed: 5)
        for (m, n) in [(5, 3), (3, 6), (8, 8)] {
            let a = Tensor(zeros: [m, n])
            for i in 0 ..< a.count { a.data[i] = generator.normal() }
            let svd = try SVD.decompose(a)
            let k = min(m, n)
            XCTAssertEqual(svd.u.shape, [m, k])
            XCTAssertEqual(svd.vt.shape, [k, n])
            XCTAssertEqual(svd.values, svd.values.sorted(by: >))
            // U diag(S) Vᵀ == A
            let scaled = svd.u.copy()
            for row in 0 ..< m { for j in 0 ..< k { scaled.data[row * k + j] *= svd.values[j] } }
            let rebuilt = Tensor(zeros: [m, n])
            BLAS.matmul(scaled, svd.vt, into: rebuilt)
            for i in 0 ..< a.count { XCTAssertEqual(rebuilt.data[i], a.data[i], accuracy: 1e-4, "\(m)×\(n)") }
            // UᵀU = I
            let gram = Tensor(zeros: [k, k])
            BLAS.matmul(svd.u, transposeA: true, svd.u, into: gram)
            for i in 0 ..< k { for j in 0 ..< k { XCTAssertEqual(gram.data[i * k + j], i == j ? 1 : 0, accuracy: 1e-4) } }
        }
    }

    func testEnergyRank() {
        XCTAssertEqual(SVD.rank(for: [3, 1, 0.1], energy: 0.85), 1)  // 9 / 10.01 = 0.899
        XCTAssertEqual(SVD.rank(for: [3, 1, 0.1], energy: 0.95), 2)
        XCTAssertEqual(SVD.rank(for: [3, 1, 0.1], energy: 1), 3)
    }
}
