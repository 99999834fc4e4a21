import Tensor

/// Plain LoRA with PEFT's semantics: y = W x + (α / r) · B A x, A (r, in) initialised uniformly, B (out, r) zero.
public final class LoRAAdapter: Adapter, @unchecked Sendable {
    public let a: Tensor
    public let b: Tensor
    public let scale: Float

    public init(inFeatures: Int, outFeatures: Int, rank: Int, alpha: Float, seed: UInt64) {
        // PEFT initialises A with kaiming-uniform(a = √5), i.e. bound 1/√in.
        a = Tensor.uniform([rank, inFeatures], bound: 1 / Float(inFeatures).squareRoot(), seed: seed)
        b = Tensor(zeros: [outFeatures, rank])
        scale = alpha / Float(rank)
    }

    public init(a: Tensor, b: Tensor, scale: Float) {
        self.a = a
        self.b = b
        self.scale = scale
    }

    public var inFeatures: Int { a.shape[1] }
    public var outFeatures: Int { b.shape[0] }
    public var rank: Int { a.shape[0] }

    public func forward(input: Tensor, out: Tensor, context: AdapterContext) -> AdapterActivations {
        let saved = AdapterActivations()
        let h = Tensor(zeros: [input.rows, rank])  // (N, r) = x Aᵀ
        BLAS.matmul(input, a, transposeB: true, into: h)
        BLAS.matmul(h, b, transposeB: true, into: out, alpha: scale, beta: 1)
        saved.tensors["h"] = h
        return saved
    }

    public func backward(dOut: Tensor, input: Tensor, dInput: Tensor?, saved: AdapterActivations,
                         gradients: Gradients, context: AdapterContext) {
        let h = saved.tensors["h"]!
        if let dB = gradients.of(b) { BLAS.matmul(dOut, transposeA: true, h, into: dB, alpha: scale, beta: 1) }
        let dH = Tensor(zeros: h.shape)  // s · dOut B
        BLAS.matmul(dOut, b, into: dH, alpha: scale)
        if let dA = gradients.of(a) { BLAS.matmul(dH, transposeA: true, input, into: dA, beta: 1) }
        if let dInput { BLAS.matmul(dH, a, into: dInput, beta: 1) }
    }

    public func mergedDelta(task: Int) -> Tensor? {
        let delta = Tensor(zeros: [outFeatures, inFeatures])
        BLAS.matmul(b, a, into: delta, alpha: scale)
        return delta
    }

    public func namedTensors() -> [(String, Tensor)] { [("lora_A", a), ("lora_B", b)] }
    public func trainableTensors(task: Int) -> [(String, Tensor)] { namedTensors() }

    public func copy() -> any Adapter { copied() }

    /// `copy()`, typed (BranchLoRA keeps each task's own pair as a LoRAAdapter).
    func copied() -> LoRAAdapter { LoRAAdapter(a: a.copy(), b: b.copy(), scale: scale) }
}
