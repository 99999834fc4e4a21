import Tensor
import XCTest

/// Checks `analytic` (the gradient of `loss` with respect to `tensor`) at `indices` against central differences
/// with step 1e-2: each entry within `relative` · max(1e-2, |numeric|) + `absolute`.
func assertMatchesFiniteDifferences(_ label: String, tensor: Tensor, analytic: Tensor, indices: some Sequence<Int>,
                                    relative: Float, absolute: Float, loss: () -> Double,
                                    file: StaticString = #filePath, line: UInt = #line) {
    for i in indices {
        let saved = tensor.data[i]
        tensor.data[i] = saved + 1e-2; let plus = loss()
        tensor.data[i] = saved - 1e-2; let minus = loss()
        tensor.data[i] = saved
        let numeric = Float((plus - minus) / 2e-2)
        XCTAssertEqual(analytic.data[i], numeric, accuracy: relative * max(1e-2, abs(numeric)) + absolute, "\(label)[\(i)]",
                       file: file, line: line)
    }
}

/// About `count` evenly spaced entries of `tensor`: the indices a sampled gradient check probes.
func sampledIndices(of tensor: Tensor, count: Int) -> StrideTo<Int> {
    stride(from: 0, to: tensor.count, by: max(1, tensor.count / count))
}
