import Foundation
import Synchronization
import ModelIO
import Tensor
import XCTest
@testable import LLaVA

/// Half-precision checkpoints kept half in memory: widened per product they answer exactly as the float32 model
/// does; through oneDNN's bf16 matmul (the inputs rounded to bf16) they stay within bf16's precision.
final class HalfWeightsTests: XCTestCase {
    override func tearDown() { HalfLinear.kernel = .widen }

    func testRoundingAndWideningAreExactWhereTheyShouldBe() {
        let values = Tensor(shape: [3, 17], values: (0 ..< 51).map { Float($0) * 0.37 - 9 })
        for format in [HalfMatrix.Format.bf16, .f16] {
            let half = HalfMatrix(rounding: values, format: format)
            let widened = half.widened()
            let again = HalfMatrix(rounding: widened, format: format).widened().toArray()
            for i in 0 ..< values.count {
                let expected = format == .bf16 ? Float(bitPattern: (values.data[i].bitPattern &+ 0x7FFF &+ ((values.data[i].bitPattern >> 16) & 1)) & 0xFFFF_0000)
                                               : Float(Float16(values.data[i]))
                XCTAssertEqual(widened.data[i], expected, "\(format) \(i)")
                XCTAssertEqual(again[i], widened.data[i], "a half value widens and rounds back exactly")
            }
        }
        XCTAssertEqual(HalfMatrix.round(1 + 1.0 / 256, to: .bf16), HalfMatrix.round(1, to: .bf16), "ties go to even")
    }

    func testBothKernelsAgreeWithTheWidenedProduct() {
        let input = Tensor.uniform([5, 40], bound: 1, seed: 3)
        let weight = HalfMatrix(rounding: Tensor.uniform([24, 40], bound: 0.5, seed: 4), format: .bf16)
        let bias = Tensor.uniform([24], bound: 0.1, seed: 5)
        let reference = Tensor(zeros: [5, 24])
        Linear.forward(out: reference, input: input, weight: weight.widened(), bias: bias)
        let widened = Tensor(zeros: [5, 24])
        HalfLinear.forward(out: widened, input: input, weight: weight, bias: bias, kernel: .widen)
        XCTAssertEqual(widened.toArray(), reference.toArray(), "the widening kernel is the float32 product exactly")
        let onednn = Tensor(zeros: [5, 24])
        HalfLinear.forward(out: onednn, input: input, weight: weight, bias: bias, kernel: .oneDNN)
        for i in 0 ..< reference.count {
            // Inputs rounded to bf16: a relative error of 2⁻⁹ per term at most.
            XCTAssertEqual(onednn.data[i], reference.data[i], accuracy: 0.02, "element \(i)")
        }
    }

    /// A served adapter's B_t is added into a layer's output: for half, int8 and float32 matrices the sum is the
    /// widened float32 matrix's product added to what `out` held, exactly.
    func testAccumulateAddsTheWidenedProduct() {
        let input = Tensor.uniform([3, 8], bound: 1, seed: 6)
        let values = Tensor.uniform([20, 8], bound: 0.5, seed: 7)
        let start = Tensor.uniform([3, 20], bound: 1, seed: 8)
        for matrix in [WeightMatrix.full(values), .half(HalfMatrix(rounding: values, format: .bf16)), .int8(Int8Matrix(quantizing: values))] {
            let expected = Tensor(shape: [3, 20], values: start.toArray())
            BLAS.matmul(input, matrix.widened, transposeB: true, into: expected, beta: 1)
            let out = Tensor(shape: [3, 20], values: start.toArray())
            Linear.accumulate(into: out, input: input, matrix: matrix)
            XCTAssertEqual(out.toArray(), expected.toArray())
            XCTAssertNotEqual(out.toArray(), start.toArray(), "the product was added")
        }
    }

    /// Products on several threads at once (evaluation threads, the tuner beside the queries) give what they give
    /// one at a time: each call has its own oneDNN scratchpad.
    func testConcurrentBF16ProductsMatchSerialOnes() throws {
        // Real-sized products (oneDNN's reference kernel, on CPUs without bf16, would take minutes; there the
        // server multiplies with the widening kernel anyway).
        try XCTSkipUnless(HalfLinear.nativeBF16, "this CPU has neither AVX512-BF16 nor AMX")
        let shapes = [(200, 768, 2560), (64, 2560, 768), (17, 768, 3072), (96, 1024, 1024)]
        let weights = shapes.enumerated().map { HalfMatrix(rounding: Tensor.uniform([$1.2, $1.1], bound: 0.5, seed: UInt64(10 + $0)), format: .bf16) }
        let inputs = shapes.enumerated().map { Tensor.uniform([$1.0, $1.1], bound: 1, seed: UInt64(20 + $0)) }
        @Sendable func product(_ index: Int) -> [Float] {
            let out = Tensor(zeros: [shapes[index].0, shapes[index].2])
            HalfLinear.forward(out: out, input: inputs[index], weight: weights[index], bias: nil, kernel: .oneDNN)
            return out.toArray()
        }
        let serial = shapes.indices.map(product)
        let results = Mutex<[Int: [[Float]]]>([:])
        DispatchQueue.concurrentPerform(iterations: 64) { round in
            let index = (round / 2) % shapes.count  // neighbouring rounds (on different threads) share a shape
            let value = product(index)
            results.withLock { $0[index, default: []].append(value) }
        }
        for (index, values) in results.withLock({ $0 }) {
            XCTAssertTrue(values.allSatisfy { $0 == serial[index] }, "shape \(shapes[index]): a concurrent product differs")
        }
    }

    /// Rows change with every batch, so a server meets more shapes than oneDNN's primitive cache holds: the
    /// oldest are destroyed as new ones come (they used to stay alive, a leak per eviction), and every product
    /// is still right.
    func testPrimitivesOfEvictedShapesAreDestroyed() {
        let weight = HalfMatrix(rounding: Tensor.uniform([8, 16], bound: 0.5, seed: 21), format: .bf16)
        for rows in 1 ... 300 {
            let input = Tensor.uniform([rows, 16], bound: 1, seed: UInt64(rows))
            let out = Tensor(zeros: [rows, 8]), expected = Tensor(zeros: [rows, 8])
            HalfLinear.forward(out: out, input: input, weight: weight, bias: nil, kernel: .oneDNN)
            HalfLinear.forward(out: expected, input: input, weight: weight, bias: nil, kernel: .widen)
            for i in 0 ..< out.count where abs(out.data[i] - expected.data[i]) > 0.05 {
                return XCTFail("rows \(rows): \(out.data[i]) vs \(expected.data[i])")
            }
        }
        XCTAssertLessThanOrEqual(HalfLinear.primitivesAlive, 256)
    }

    /// The bf16 and f16 fixtures loaded half: their linear matrices stay half, and their logits at every prompt
    /// position are the float32-widened model's — exactly with the widening kernel, within bf16 with oneDNN.
    func testHalfCheckpointsAnswerAsTheWidenedModel() throws {
        for name in ["gqa_bf16_layers_bias_sharded", "gqa_tied_full_m1_f16", "mid_gqa_bf16"] {
            let directory = ModelFixtures.directory(name)
            let config = try LlavaConfig.load(from: directory)
            let full = try LlavaModel(config: config, checkpoint: Checkpoint(directory: directory))
            let half = try LlavaModel(config: config, checkpoint: Checkpoint(directory: directory, keepHalf: true))
            guard case .half = half.text.layers[0].query.matrix, case .half = half.vision.layers[0].fc1.matrix else {
                return XCTFail("\(name): linear matrices should stay half precision")
            }
            func logits(_ model: LlavaModel) throws -> Tensor { try ModelFixtures.promptLogits(model, fixture: name) }
            let expected = try logits(full)
            HalfLinear.kernel = .widen
            XCTAssertEqual(try logits(half).toArray(), expected.toArray(), "\(name): widened per product = widened at load")
            guard name.contains("bf16") else { continue }
            HalfLinear.kernel = .oneDNN
            let bf16 = try logits(half)
            let (error, diff, _) = ModelFixtures.relativeError(bf16, expected)
            XCTAssertLessThan(error, 3e-2, "\(name): bf16 products differ by \(diff)")
            let agree = ModelFixtures.topOneAgreements(bf16, expected)
            XCTAssertGreaterThanOrEqual(Double(agree) / Double(expected.rows), 0.9, "\(name): top-1 at \(agree) of \(expected.rows) positions")
        }
    }
}
