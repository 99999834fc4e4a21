import Foundation
import Tensor

/// MoELoRA as in CoIN: the rank is split over E experts, each with its own A_e (r/E, in) and B_e (out, r/E);
/// a per-token softmax router (E, in) weighs them and all experts are summed:
/// y = W x + (α / r) · Σ_e g_e(x) · B_e A_e x.
///
/// The experts are stored concatenated — A (r, in), B (out, r), expert e owning rank slice e·r/E ..< (e+1)·r/E —
/// so one product computes every expert and the gate only scales slices of the hidden (N, r).
public final class MoELoRAAdapter: Adapter, @unchecked Sendable {
    public let a: Tensor
    public let b: Tensor
    public let router: Tensor  // (E, in)
    public let experts: Int
    public let scale: Float

    public init(inFeatures: Int, outFeatures: Int, rank: Int, alpha: Float, experts: Int, seed: UInt64) {
        precondition(rank % experts == 0, "MoELoRA rank \(rank) must split evenly over \(experts) experts")
        a = Tensor.uniform([rank, inFeatures], bound: 1 / Float(inFeatures).squareRoot(), seed: seed)
        b = Tensor(zeros: [outFeatures, rank])
        router = Tensor.uniform([experts, inFeatures], bound: 1 / Float(inFeatures).squareRoot(), seed: seed &+ 1)
        self.experts = experts
        scale = alpha / Float(rank)
    }

    public init(a: Tensor, b: Tensor, router: Tensor, scale: Float) {
        self.a = a
        self.b = b
        self.router = router
        experts = router.shape[0]
        self.scale = scale
    }

    public var inFeatures: Int { a.shape[1] }
    public var outFeatures: Int { b.shape[0] }
    public var rank: Int { a.shape[0] }
    var expertRank: Int { rank / experts }

    public func forward(input: Tensor, out: Tensor, context: AdapterContext) -> AdapterActivations {
        let rows = input.rows, slice = expertRank
        let gates = Tensor(zeros: [rows, experts])
        BLAS.matmul(input, router, transposeB: true, into: gates)
        for row in 0 ..< rows { Softmax.row(gates.data + row * experts, count: experts, total: experts) }
        let h = Tensor(zeros: [rows, rank])
        BLAS.matmul(input, a, transposeB: true, into: h)
        let gated = Tensor(zeros: [rows, rank])
        for row in 0 ..< rows {
            for e in 0 ..< experts {
                let g = gates.data[row * experts + e]
                let base = row * rank + e * slice
                for j in 0 ..< slice { gated.data[base + j] = g * h.data[base + j] }
            }
        }
        BLAS.matmul(gated, b, transposeB: true, into: out, alpha: scale, beta: 1)
        let saved = AdapterActivations()
        saved.tensors = ["gates": gates, "h": h, "gated": gated]
        return saved
    }

    public func backward(dOut: Tensor, input: Tensor, dInput: Tensor?, saved: AdapterActivations,
                         gradients: Gradients, context: AdapterContext) {
        let gates = saved.tensors["gates"]!, h = saved.tensors["h"]!, gated = saved.tensors["gated"]!
        let rows = input.rows, slice = expertRank
        if let dB = gradients.of(b) { BLAS.matmul(dOut, transposeA: true, gated, into: dB, alpha: scale, beta: 1) }
        let dGated = Tensor(zeros: [rows, rank])
        BLAS.matmul(dOut, b, into: dGated, alpha: scale)
        let dH = Tensor(zeros: [rows, rank])
        let dLogits = Tensor(zeros: [rows, experts])
        for row in 0 ..< rows {
            let p = gates.data + row * experts, dg = dLogits.data + row * experts
            for e in 0 ..< experts {
                let base = row * rank + e * slice
                var dot: Float = 0
                for j in 0 ..< slice {
                    dot += dGated.data[base + j] * h.data[base + j]
                    dH.data[base + j] = dGated.data[base + j] * p[e]
                }
                dg[e] = dot
            }
            Softmax.rowBackward(dg, probabilities: p, count: experts)
        }
        if let dA = gradients.of(a) { BLAS.matmul(dH, transposeA: true, input, into: dA, beta: 1) }
        if let dRouter = gradients.of(router) { BLAS.matmul(dLogits, transposeA: true, input, into: dRouter, beta: 1) }
        if let dInput {
            BLAS.matmul(dH, a, into: dInput, beta: 1)
            BLAS.matmul(dLogits, router, into: dInput, beta: 1)
        }
    }

    /// Gates depend on every token: no dense equivalent.
    public func mergedDelta(task: Int) -> Tensor? { nil }

    public func namedTensors() -> [(String, Tensor)] { [("lora_A", a), ("lora_B", b), ("router", router)] }
    public func trainableTensors(task: Int) -> [(String, Tensor)] { namedTensors() }

    public func copy() -> any Adapter { MoELoRAAdapter(a: a.copy(), b: b.copy(), router: router.copy(), scale: scale) }
}
