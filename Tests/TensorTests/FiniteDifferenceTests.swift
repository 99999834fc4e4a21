import XCTest
@testable import Tensor

/// Every op's backward against central finite differences of L = Σ out ⊙ R for a fixed random R.
final class FiniteDifferenceTests: XCTestCase {
    var generator = SplitMix(seed: 42)

    func random(_ shape: [Int], scale: Float = 1) -> Tensor {
        let t = Tensor(zeros: shape)
        for i in 0 ..< t.count { t.data[i] = scale * generator.normal() }
        return t
    }

    /// Compares `analytic` (the gradient backward produced for `input`) with finite differences of `loss`.
    func check(_ label: String, input: Tensor, analytic: Tensor, tolerance: Float = 2e-2, loss: () -> Double) {
        let epsilon: Float = 1e-2
        var worst: Float = 0, scale: Float = 0
        for i in 0 ..< input.count {
            let saved = input.data[i]
            input.data[i] = saved + epsilon
            let plus = loss()
            input.data[i] = saved - epsilon
            let minus = loss()
            input.data[i] = saved
            let numeric = Float((plus - minus) / Double(2 * epsilon))
            worst = max(worst, abs(numeric - analytic.data[i]))
            scale = max(scale, abs(numeric))
        }
        XCTAssertLessThan(worst / max(scale, 1e-3), tolerance, "\(label): max diff \(worst), scale \(scale)")
    }

    func weighted(_ out: Tensor, _ r: Tensor) -> Double {
        var sum: Double = 0
        for i in 0 ..< out.count { sum += Double(out.data[i]) * Double(r.data[i]) }
        return sum
    }

    func testLinear() {
        let x = random([5, 4]), w = random([3, 4]), b = random([3]), r = random([5, 3])
        let out = Tensor(zeros: [5, 3])
        func loss() -> Double { Linear.forward(out: out, input: x, weight: w, bias: b); return weighted(out, r) }
        let dX = Tensor(zeros: x.shape), dW = Tensor(zeros: w.shape), dB = Tensor(zeros: b.shape)
        Linear.backward(dInput: dX, dWeight: dW, dBias: dB, dOut: r, input: x, weight: w)
        check("linear dX", input: x, analytic: dX, loss: loss)
        check("linear dW", input: w, analytic: dW, loss: loss)
        check("linear dB", input: b, analytic: dB, loss: loss)
    }

    func testLayerNorm() {
        let x = random([4, 6]), w = random([6]), b = random([6]), r = random([4, 6])
        let out = Tensor(zeros: x.shape), mean = Tensor(zeros: [4]), rstd = Tensor(zeros: [4])
        func loss() -> Double { LayerNorm.forward(out: out, input: x, weight: w, bias: b, eps: 1e-5); return weighted(out, r) }
        LayerNorm.forward(out: out, input: x, weight: w, bias: b, eps: 1e-5, mean: mean, rstd: rstd)
        let dX = Tensor(zeros: x.shape), dW = Tensor(zeros: w.shape), dB = Tensor(zeros: b.shape)
        LayerNorm.backward(dInput: dX, dWeight: dW, dBias: dB, dOut: r, input: x, weight: w, mean: mean, rstd: rstd)
        check("layernorm dX", input: x, analytic: dX, loss: loss)
        check("layernorm dW", input: w, analytic: dW, loss: loss)
        check("layernorm dB", input: b, analytic: dB, loss: loss)
    }

    func testRMSNorm() {
        let x = random([4, 6]), w = random([6]), r = random([4, 6])
        let out = Tensor(zeros: x.shape), rstd = Tensor(zeros: [4])
        func loss() -> Double { RMSNorm.forward(out: out, input: x, weight: w, eps: 1e-5); return weighted(out, r) }
        RMSNorm.forward(out: out, input: x, weight: w, eps: 1e-5, rstd: rstd)
        let dX = Tensor(zeros: x.shape), dW = Tensor(zeros: w.shape)
        RMSNorm.backward(dInput: dX, dWeight: dW, dOut: r, input: x, weight: w, rstd: rstd)
        check("rmsnorm dX", input: x, analytic: dX, loss: loss)
        check("rmsnorm dW", input: w, analytic: dW, loss: loss)
    }

    func testActivations() {
        for activation in [Activation.gelu, .quickGelu, .geluTanh, .silu] {
            let x = random([3, 5]), r = random([3, 5]), out = Tensor(zeros: [3, 5])
            func loss() -> Double { activation.forward(out: out, input: x); return weighted(out, r) }
            let dX = Tensor(zeros: x.shape)
            activation.backward(dInput: dX, dOut: r, input: x)
            check("\(activation)", input: x, analytic: dX, loss: loss)
        }
    }

    func testSwiGLU() {
        let g = random([3, 4]), u = random([3, 4]), r = random([3, 4]), out = Tensor(zeros: [3, 4])
        func loss() -> Double { SwiGLU.forward(out: out, gate: g, up: u); return weighted(out, r) }
        let dG = Tensor(zeros: g.shape), dU = Tensor(zeros: u.shape)
        SwiGLU.backward(dGate: dG, dUp: dU, dOut: r, gate: g, up: u)
        check("swiglu gate", input: g, analytic: dG, loss: loss)
        check("swiglu up", input: u, analytic: dU, loss: loss)
    }

    func testAttentionCausalGQAAndFull() {
        for (causal, heads, kvHeads) in [(true, 4, 2), (false, 2, 2), (true, 2, 1)] {
            let t = 5, d = 3
            let shape = Attention.Shape(heads: heads, kvHeads: kvHeads, headDim: d, causal: causal)
            let q = random([t, heads * d]), k = random([t, kvHeads * d]), v = random([t, kvHeads * d])
            let r = random([t, heads * d]), out = Tensor(zeros: [t, heads * d])
            let probabilities = Tensor(zeros: [heads, t, t])
            func loss() -> Double {
                Attention.forward(out: out, queries: q, keys: k, values: v, keyCount: t, offset: 0, shape: shape)
                return weighted(out, r)
            }
            Attention.forward(out: out, queries: q, keys: k, values: v, keyCount: t, offset: 0, shape: shape, probabilities: probabilities)
            let dQ = Tensor(zeros: q.shape), dK = Tensor(zeros: k.shape), dV = Tensor(zeros: v.shape)
            Attention.backward(dQueries: dQ, dKeys: dK, dValues: dV, dOut: r, queries: q, keys: k, values: v,
                               probabilities: probabilities, shape: shape)
            check("attention dQ causal=\(causal) \(heads)/\(kvHeads)", input: q, analytic: dQ, loss: loss)
            check("attention dK causal=\(causal) \(heads)/\(kvHeads)", input: k, analytic: dK, loss: loss)
            check("attention dV causal=\(causal) \(heads)/\(kvHeads)", input: v, analytic: dV, loss: loss)
        }
    }

    /// Heads side by side on the cores (inference) give exactly the one-after-another result, causal, GQA and
    /// with a longer cache than the valid keys.
    func testAttentionHeadsInParallelMatchOneAfterAnother() {
        let threads = BLAS.threads
        for (causal, heads, kvHeads) in [(true, 6, 2), (false, 4, 4)] {
            let t = 9, s = 12, d = 8
            let shape = Attention.Shape(heads: heads, kvHeads: kvHeads, headDim: d, causal: causal)
            let q = random([t, heads * d]), k = random([s + 3, kvHeads * d]), v = random([s + 3, kvHeads * d])
            let serial = Tensor(zeros: [t, heads * d]), parallel = Tensor(zeros: [t, heads * d])
            Attention.forward(out: serial, queries: q, keys: k, values: v, keyCount: s, offset: 3, shape: shape, headsInParallel: false)
            Attention.forward(out: parallel, queries: q, keys: k, values: v, keyCount: s, offset: 3, shape: shape, headsInParallel: true)
            XCTAssertEqual(parallel.toArray(), serial.toArray(), "causal=\(causal) \(heads)/\(kvHeads)")
        }
        XCTAssertEqual(BLAS.threads, threads, "BLAS's threads are restored")
    }

    /// Softmax rows (lane-wise exponential where the CPU has AVX2) against libm's expf, with masked entries.
    func testSoftmaxRowsAgainstLibm() {
        for count in [1, 7, 8, 37, 300] {
            let values = (0 ..< count).map { Float(($0 * 7) % 23) * 4.1 - 95 }
            var row = values + [5, 5]
            row.withUnsafeMutableBufferPointer { Softmax.row($0.baseAddress!, count: count, total: count + 2) }
            let maximum = values.max()!
            let sum = values.reduce(0) { $0 + expf($1 - maximum) }
            for i in 0 ..< count {
                let expected = expf(values[i] - maximum) / sum
                XCTAssertEqual(row[i], expected, accuracy: max(expected * 1e-6, 1e-30), "\(count): \(i)")
            }
            XCTAssertEqual(Array(row[count...]), [0, 0], "masked entries")
        }
    }

    func testRoPE() {
        let rope = RotaryEmbedding(headDim: 4, theta: 10000, maxPositions: 16)
        let x = random([3, 8]), r = random([3, 8])
        let positions = [0, 5, 11]
        func loss() -> Double { let y = x.copy(); rope.apply(y, heads: 2, positions: positions); return weighted(y, r) }
        let dX = r.copy()
        rope.applyBackward(dX, heads: 2, positions: positions)
        check("rope", input: x, analytic: dX, loss: loss)
    }

    func testCrossEntropyAndEmbedding() {
        let logits = random([3, 7]), targets = [2, 0, 6]
        let probabilities = Tensor(zeros: logits.shape)
        func loss() -> Double { Double(CrossEntropy.forward(logits: logits, targets: targets, probabilities: Tensor(zeros: logits.shape))) }
        _ = CrossEntropy.forward(logits: logits, targets: targets, probabilities: probabilities)
        let dLogits = Tensor(zeros: logits.shape)
        CrossEntropy.backward(dLogits: dLogits, probabilities: probabilities, targets: targets, weight: 1 / 3)
        check("cross-entropy", input: logits, analytic: dLogits, loss: loss)

        let table = random([6, 3]), ids = [4, 1, 4], r = random([3, 3]), out = Tensor(zeros: [3, 3])
        func embeddingLoss() -> Double { Embedding.forward(out: out, table: table, ids: ids); return weighted(out, r) }
        let dTable = Tensor(zeros: table.shape)
        Embedding.backward(dTable: dTable, dOut: r, ids: ids)
        check("embedding", input: table, analytic: dTable, loss: embeddingLoss)
    }
}

/// Deterministic normal samples for tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func normal() -> Float {
        let u = max(uniform(), 1e-7), v = uniform()
        return (-2 * logf(u)).squareRoot() * cosf(2 * .pi * v)
    }
}
