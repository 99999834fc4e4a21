import Tensor

/// A finished BranchLoRA adapter as a served snapshot needs it (docs/DESIGN.md §3, "Serving"): the trunk A and,
/// per task, its branches combined by its recorded gates with the scale folded in, B̄_t = (α / r) · Σ_i g_i B_i —
/// one (out, r) matrix per task instead of every branch and router — and the task's own pair (A_t, (α / r) B_t).
/// A task costs the server those, a few MB at real sizes, and nothing else. Kept in half precision when the
/// projection it adapts is (a bf16 checkpoint served with `--weights half`), so it costs what the base model's
/// own matrices cost per value.
///
/// Inference only: a snapshot that trains reads the full adapters from its file (`Snapshot.trainableAdapters`).
final class ServedBranchLoRA: Adapter, @unchecked Sendable {
    let trunk: WeightMatrix
    let taskBranches: [Int: WeightMatrix]
    /// Each task's own pair (A_t, (α / r) · B_t), if it has one.
    let own: [Int: (a: WeightMatrix, b: WeightMatrix)]
    let inFeatures: Int
    let outFeatures: Int

    /// Nil when some task's gates are not recorded (a task still training answers through its live router).
    init?(_ adapter: BranchLoRAAdapter, half: HalfMatrix.Format?) {
        let tasks = adapter.taskCount
        guard (1 ..< tasks + 1).allSatisfy({ adapter.recordedGates[$0] != nil }) else { return nil }
        let keep = { (tensor: Tensor) -> WeightMatrix in half.map { .half(HalfMatrix(rounding: tensor, format: $0)) } ?? .full(tensor) }
        trunk = keep(adapter.trunk)
        var taskBranches: [Int: WeightMatrix] = [:]
        for task in 1 ..< tasks + 1 {
            let combined = adapter.combinedBranch(adapter.recordedGates[task]!)
            for i in 0 ..< combined.count { combined.data[i] *= adapter.scale }
            taskBranches[task] = keep(combined)
        }
        self.taskBranches = taskBranches
        own = adapter.own.mapValues { pair in
            let b = pair.b.copy()
            for i in 0 ..< b.count { b.data[i] *= adapter.scale }
            return (keep(pair.a), keep(b))
        }
        inFeatures = adapter.inFeatures
        outFeatures = adapter.outFeatures
    }

    func forward(input: Tensor, out: Tensor, context: AdapterContext) -> AdapterActivations {
        guard let branch = taskBranches[context.task], input.rows > 0 else { return AdapterActivations() }
        Self.add(into: out, input: input, a: trunk, b: branch)
        if let pair = own[context.task] { Self.add(into: out, input: input, a: pair.a, b: pair.b) }
        return AdapterActivations()
    }

    /// out += input · Aᵀ · Bᵀ: the (rows × rank) product first, then B (out × rank, small) accumulated into `out`
    /// by sgemm, widened into the thread's scratch if half — no output-sized temporary, no allocation per product.
    private static func add(into out: Tensor, input: Tensor, a: WeightMatrix, b: WeightMatrix) {
        let h = Tensor(zeros: [input.rows, a.shape[0]])
        Linear.forward(out: h, input: input, matrix: a, bias: nil)
        Linear.accumulate(into: out, input: h, matrix: b)
    }

    func backward(dOut: Tensor, input: Tensor, dInput: Tensor?, saved: AdapterActivations,
                  gradients: Gradients, context: AdapterContext) {
        preconditionFailure("a served adapter is not trained: Snapshot.trainableAdapters reads the full adapters")
    }

    func mergedDelta(task: Int) -> Tensor? {
        guard task > 0 else { return Tensor(zeros: [outFeatures, inFeatures]) }
        guard let branch = taskBranches[task] else { return nil }
        let delta = Tensor(zeros: [outFeatures, inFeatures])
        BLAS.matmul(branch.widened, trunk.widened, into: delta)
        if let pair = own[task] { BLAS.matmul(pair.b.widened, pair.a.widened, into: delta, beta: 1) }
        return delta
    }

    func namedTensors() -> [(String, Tensor)] {
        [("trunk_A", trunk.widened)] + taskBranches.keys.sorted().map { ("task_B.\($0)", taskBranches[$0]!.widened) }
            + own.keys.sorted().flatMap { [("own_A.\($0)", own[$0]!.a.widened), ("own_B.\($0)", own[$0]!.b.widened)] }
    }

    func trainableTensors(task: Int) -> [(String, Tensor)] { [] }

    /// Immutable: a copy is itself.
    func copy() -> any Adapter { self }

    /// Bytes its matrices hold.
    var bytes: Int {
        taskBranches.values.reduce(trunk.bytes) { $0 + $1.bytes } + own.values.reduce(0) { $0 + $1.a.bytes + $1.b.bytes }
    }
}

extension AdapterSet {
    /// Bytes the served adapters' matrices hold (0 for adapters kept in full).
    public var servedBytes: Int { layers.reduce(0) { $0 + $1.values.reduce(0) { $0 + (($1 as? ServedBranchLoRA)?.bytes ?? 0) } } }

    /// Whether these are a served snapshot's adapters (which cannot train or be saved).
    var isServedForm: Bool { layers.contains { $0.values.contains { $0 is ServedBranchLoRA } } }
}
