import Foundation
import ModelIO
import Tensor
import XCTest
@testable import LLaVA

/// 8-bit weights (`--weights int8`): one scale per output channel; products through oneDNN's s8 matmul with each
/// input row quantized (W8A8), or widened for OpenBLAS (W8).
final class Int8WeightsTests: XCTestCase {
    /// Quantizing keeps every value within half a step of its row's scale, and both kernels give the product of
    /// the dequantized matrix — exactly enough for the widening one, within the input's own 8-bit rounding for
    /// oneDNN's.
    func testQuantizedProductsAgreeWithTheDequantizedMatrix() {
        let values = Tensor.uniform([24, 40], bound: 0.5, seed: 31)
        for i in 0 ..< 40 { values.data[3 * 40 + i] *= 8 }  // a row with a larger range than the others
        let matrix = Int8Matrix(quantizing: values)
        let dequantized = matrix.widened()
        for row in 0 ..< 24 {
            for i in 0 ..< 40 {
                XCTAssertLessThanOrEqual(abs(dequantized.data[row * 40 + i] - values.data[row * 40 + i]), matrix.scales[row] / 2 + 1e-6)
            }
        }
        let input = Tensor.uniform([7, 40], bound: 1, seed: 32), bias = Tensor.uniform([24], bound: 1, seed: 33)
        let expected = Tensor(zeros: [7, 24])
        Linear.forward(out: expected, input: input, weight: dequantized, bias: bias)
        for native in Int8Linear.native ? [false, true] : [false] {
            let out = Tensor(zeros: [7, 24])
            Int8Linear.forward(out: out, input: input, weight: matrix, bias: bias, native: native)
            let (error, diff, _) = ModelFixtures.relativeError(out, expected)
            XCTAssertLessThan(error, native ? 2e-2 : 1e-6, "native \(native): differs by \(diff)")
        }
    }

    /// The mid-size bf16 fixture quantized: its logits at every prompt position stay close to the float32 model's
    /// and pick the same token at most positions.
    func testQuantizedCheckpointAnswersCloseToFloat32() throws {
        let name = "mid_gqa_bf16"
        let directory = ModelFixtures.directory(name)
        let config = try LlavaConfig.load(from: directory)
        let full = try LlavaModel(config: config, checkpoint: Checkpoint(directory: directory))
        var checkpoint = try Checkpoint(directory: directory, keepHalf: true)
        checkpoint.quantizeMatrices = true
        let quantized = try LlavaModel(config: config, checkpoint: checkpoint)
        guard case .int8 = quantized.text.layers[0].query.matrix, case .int8 = quantized.vision.layers[0].fc1.matrix else {
            return XCTFail("linear matrices should be 8-bit")
        }
        let expected = try ModelFixtures.promptLogits(full, fixture: name), got = try ModelFixtures.promptLogits(quantized, fixture: name)
        let (error, diff, _) = ModelFixtures.relativeError(got, expected)
        XCTAssertLessThan(error, 5e-2, "8-bit logits differ by \(diff)")
        let agree = ModelFixtures.topOneAgreements(got, expected)
        XCTAssertGreaterThanOrEqual(Double(agree) / Double(expected.rows), 0.9, "top-1 at \(agree) of \(expected.rows) positions")
    }
}
