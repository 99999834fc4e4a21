import Foundation
import Tensor

/// BranchLoRA (docs/DESIGN.md §3): one shared trunk A (r, in), N branches B_i (out, r), one router per task.
///
/// y = W x + (α / r) · Σ_i g_i · B_i A x, with g = softmax over the router's top-k logits (others 0), the router a
/// linear map (plus bias) of the adapter's input at the sequence's first token. That input is the same for every
/// prompt (causal decoder, fixed prefix), so a learned task's gates are constants: they are recorded when the task
/// is finished and its router frozen, which is what lets a task's weights merge into one dense matrix.
/// The router gradient does not flow back into the first token's hidden state (it is a constant of the prefix).
///
/// Each task may also own a small plain LoRA pair (A_t (k, in), B_t (out, k), same scale) that only it uses:
/// y += (α / r) · B_t A_t x. The trunk is frozen after the first task (so finished tasks' merged updates stay
/// exact) and a later task's branches can only read the directions the first task chose; its own pair gives it
/// directions of its own (docs/DESIGN.md §3, "Own directions"). It trains while the task is live and is frozen
/// with it, so merged weights stay exact per task.
public final class BranchLoRAAdapter: Adapter, @unchecked Sendable {
    public let trunk: Tensor  // A (r, in)
    /// B_i (out, r). Grows when a new task would find fewer than `topK` tunable branches (`addTask`).
    public private(set) var branches: [Tensor]
    public let scale: Float
    public let topK: Int
    /// routers[t − 1] = (weight (N, in), bias (N)) of task t ≥ 1; task 0 is the base model (no update).
    public private(set) var routers: [(weight: Tensor, bias: Tensor)] = []
    /// Gates recorded when a task was finished; such a task's router is frozen.
    public private(set) var recordedGates: [Int: [Float]] = [:]
    public private(set) var frozenBranches: Set<Int> = []
    public var trunkFrozen = false
    /// Rank k of the pair each new task gets for itself (0: none).
    public let ownRank: Int
    /// own[t]: task t's pair, A_t (k, in) and B_t (out, k) at the adapter's scale — a plain LoRA.
    public private(set) var own: [Int: LoRAAdapter] = [:]

    public init(inFeatures: Int, outFeatures: Int, rank: Int, alpha: Float, branchCount: Int, topK: Int, ownRank: Int = 0,
                seed: UInt64) {
        trunk = Tensor.uniform([rank, inFeatures], bound: 1 / Float(inFeatures).squareRoot(), seed: seed)
        branches = (0 ..< branchCount).map { _ in Tensor(zeros: [outFeatures, rank]) }
        scale = alpha / Float(rank)
        self.topK = min(topK, branchCount)
        self.ownRank = ownRank
    }

    public init(trunk: Tensor, branches: [Tensor], scale: Float, topK: Int, routers: [(Tensor, Tensor)],
                recordedGates: [Int: [Float]], frozenBranches: Set<Int>, trunkFrozen: Bool,
                ownRank: Int = 0, own: [Int: LoRAAdapter] = [:]) {
        self.trunk = trunk
        self.branches = branches
        self.scale = scale
        self.topK = topK
        self.routers = routers.map { (weight: $0.0, bias: $0.1) }
        self.recordedGates = recordedGates
        self.frozenBranches = frozenBranches
        self.trunkFrozen = trunkFrozen
        self.ownRank = ownRank
        self.own = own
    }

    public var inFeatures: Int { trunk.shape[1] }
    public var outFeatures: Int { branches[0].shape[0] }
    public var rank: Int { trunk.shape[0] }
    public var branchCount: Int { branches.count }
    public var taskCount: Int { routers.count }

    /// Adds a router for a new task. Its bias starts in favour of the `topK` tunable branches used least so far,
    /// so a new task begins on branches it may train (it can still learn to route to frozen ones). When fewer than
    /// `topK` branches are still tunable — tuning-freezing has frozen the rest — new zero branches are added
    /// first: every task gets capacity of its own, and earlier tasks' recorded gates (over the branches they
    /// knew) and merged weights stay exactly as they were.
    @discardableResult
    public func addTask(seed: UInt64, preference: Float = 1) -> Int {
        let stillTunable = (0 ..< branchCount).filter { !frozenBranches.contains($0) }.count
        for _ in 0 ..< max(0, topK - stillTunable) { branches.append(Tensor(zeros: [outFeatures, rank])) }
        let weight = Tensor.uniform([branchCount, inFeatures], bound: 0.01 / Float(inFeatures).squareRoot(), seed: seed)
        let bias = Tensor(zeros: [branchCount])
        let usage = branchUsage()
        let tunable = (0 ..< branchCount).filter { !frozenBranches.contains($0) }
        for branch in tunable.sorted(by: { (usage[$0], $0) < (usage[$1], $1) }).prefix(topK) {
            bias.data[branch] = preference
        }
        routers.append((weight, bias))
        if ownRank > 0 {
            // Like LoRA's own initialisation: A uniform, B zero, so the task starts from its parent's function.
            own[routers.count] = LoRAAdapter(a: Tensor.uniform([ownRank, inFeatures], bound: 1 / Float(inFeatures).squareRoot(), seed: seed &+ 0x5EED),
                                             b: Tensor(zeros: [outFeatures, ownRank]), scale: scale)
        }
        return routers.count
    }

    /// Makes the finished `task` trainable again without changing what it computes or what any other task
    /// computes: the branches it gates are copied into new, tunable branches (the originals stay frozen: later
    /// tasks may route to them), and its router is replaced by one that gives the copies the logits the originals
    /// had and every other branch none, so the live gates over the copies equal the recorded ones. Training then
    /// continues the task from where it was; finishing it records new gates and freezes the copies it uses.
    /// A task already live is left as it is.
    public func reopenTask(_ task: Int) {
        guard let gates = recordedGates[task] else { return }
        let old = routers[task - 1]
        // Its pair trains again: a copy of its own, since copies of this adapter may share the frozen one.
        own[task] = own[task]?.copied()
        var copies: [(original: Int, copy: Int)] = []
        for original in gates.indices where gates[original] > 0 {
            branches.append(branches[original].copy())
            copies.append((original, branches.count - 1))
        }
        let weight = Tensor(zeros: [branchCount, inFeatures])
        let bias = Tensor(zeros: [branchCount])
        // Far below any logit a router learns: never among the top k while k copies exist, and a gate of
        // exactly 0 should fewer copies than k exist (softmax underflows).
        for i in 0 ..< branchCount { bias.data[i] = -1e4 }
        for (original, copy) in copies {
            bias.data[copy] = old.bias.data[original]
            (weight.data + copy * inFeatures).update(from: old.weight.data + original * inFeatures, count: inFeatures)
        }
        routers[task - 1] = (weight, bias)
        recordedGates[task] = nil
    }

    /// Total gate mass each branch carries over the recorded tasks.
    func branchUsage() -> [Float] {
        var usage = [Float](repeating: 0, count: branchCount)
        for gates in recordedGates.values { for (i, g) in gates.enumerated() { usage[i] += g } }
        return usage
    }

    /// Finishes `task`: records its gates (from the router applied to `firstInput`, the adapter input at the
    /// first token) and freezes the k branches it activates most (tuning-freezing). The shared trunk is frozen
    /// too: it is learned with the first task, and freezing it keeps every finished task's merged update fixed
    /// (measured in TuningTests: with a trunk that kept training, the first task fell to 0.5 accuracy after a second).
    public func finishTask(_ task: Int, firstInput: UnsafePointer<Float>) {
        let gates = liveGates(task: task, firstInput: firstInput)
        recordedGates[task] = gates
        trunkFrozen = true
        for branch in gates.indices.sorted(by: { gates[$0] > gates[$1] }).prefix(topK) where gates[branch] > 0 {
            frozenBranches.insert(branch)
        }
    }

    func liveGates(task: Int, firstInput x: UnsafePointer<Float>) -> [Float] {
        let router = routers[task - 1]
        // A task's router knows the branches there were when it was added.
        let count = router.bias.count
        var logits = [Float](repeating: 0, count: count)
        for i in 0 ..< count {
            var sum = router.bias.data[i]
            let row = router.weight.data + i * inFeatures
            for j in 0 ..< inFeatures { sum += row[j] * x[j] }
            logits[i] = sum
        }
        return Self.topKSoftmax(logits, k: topK)
    }

    /// Softmax over the k largest logits (ties to the lower index); the rest get 0.
    static func topKSoftmax(_ logits: [Float], k: Int) -> [Float] {
        let chosen = logits.indices.sorted { (logits[$0], -$0) > (logits[$1], -$1) }.prefix(k)
        let maximum = chosen.map { logits[$0] }.max() ?? 0
        var gates = [Float](repeating: 0, count: logits.count)
        var sum: Float = 0
        for i in chosen { gates[i] = expf(logits[i] - maximum); sum += gates[i] }
        for i in chosen { gates[i] /= sum }
        return gates
    }

    func gates(task: Int, firstInput: UnsafePointer<Float>) -> [Float] {
        recordedGates[task] ?? liveGates(task: task, firstInput: firstInput)
    }

    /// Σ_i g_i B_i  (out, r)
    func combinedBranch(_ gates: [Float]) -> Tensor {
        let combined = Tensor(zeros: [outFeatures, rank])
        for (i, g) in gates.enumerated() where g != 0 {
            let source = branches[i].data
            for j in 0 ..< combined.count { combined.data[j] += g * source[j] }
        }
        return combined
    }

    public func forward(input: Tensor, out: Tensor, context: AdapterContext) -> AdapterActivations {
        let saved = AdapterActivations()
        guard context.task > 0 else { return saved }
        let h = Tensor(zeros: [input.rows, rank])
        BLAS.matmul(input, trunk, transposeB: true, into: h)
        for (index, rows) in context.sequences.enumerated() {
            let gates = gates(task: context.task, firstInput: input.data + rows.lowerBound * inFeatures)
            saved.values["gates\(index)"] = gates
            BLAS.matmul(h.slice(rows), combinedBranch(gates), transposeB: true, into: out.slice(rows), alpha: scale, beta: 1)
        }
        saved.tensors["h"] = h
        if let pair = own[context.task] { saved.tensors["hOwn"] = pair.forward(input: input, out: out, context: context).tensors["h"] }
        return saved
    }

    public func backward(dOut: Tensor, input: Tensor, dInput: Tensor?, saved: AdapterActivations,
                         gradients: Gradients, context: AdapterContext) {
        guard context.task > 0, let h = saved.tensors["h"] else { return }
        let task = context.task
        let routerLive = recordedGates[task] == nil
        let dH = Tensor(zeros: h.shape)
        let dCombined = Tensor(zeros: [outFeatures, rank])
        for (index, rows) in context.sequences.enumerated() {
            let gates = saved.values["gates\(index)"]!
            let dOutRows = dOut.slice(rows)
            BLAS.matmul(dOutRows, combinedBranch(gates), into: dH.slice(rows), alpha: scale)
            // dB_eff = s · dOutᵀ h, shared by the branches in proportion to their gates.
            BLAS.matmul(dOutRows, transposeA: true, h.slice(rows), into: dCombined, alpha: scale)
            var dGates = [Float](repeating: 0, count: gates.count)
            for (i, g) in gates.enumerated() where g != 0 {
                if let dB = gradients.of(branches[i]) {
                    for j in 0 ..< dB.count { dB.data[j] += g * dCombined.data[j] }
                }
                var dot: Float = 0
                for j in 0 ..< dCombined.count { dot += dCombined.data[j] * branches[i].data[j] }
                dGates[i] = dot
            }
            guard routerLive else { continue }
            // Softmax backward over the chosen branches only; unchosen logits get no gradient.
            var inner: Float = 0
            for i in gates.indices { inner += dGates[i] * gates[i] }
            let router = routers[task - 1]
            let dWeight = gradients.of(router.weight), dBias = gradients.of(router.bias)
            let x = input.data + rows.lowerBound * inFeatures
            for i in gates.indices where gates[i] != 0 {
                let dLogit = gates[i] * (dGates[i] - inner)
                dBias?.data[i] += dLogit
                if let dWeight {
                    let row = dWeight.data + i * inFeatures
                    for j in 0 ..< inFeatures { row[j] += dLogit * x[j] }
                }
            }
        }
        if let dA = gradients.of(trunk) { BLAS.matmul(dH, transposeA: true, input, into: dA, beta: 1) }
        if let dInput { BLAS.matmul(dH, trunk, into: dInput, beta: 1) }
        if let pair = own[task], let hOwn = saved.tensors["hOwn"] {
            let ownSaved = AdapterActivations()
            ownSaved.tensors["h"] = hOwn
            pair.backward(dOut: dOut, input: input, dInput: dInput, saved: ownSaved, gradients: gradients, context: context)
        }
    }

    /// (α / r) · ((Σ_i g_i B_i) · A + B_t A_t) for a task whose gates are recorded; nil for a task in training.
    public func mergedDelta(task: Int) -> Tensor? {
        if task == 0 { return Tensor(zeros: [outFeatures, inFeatures]) }
        guard let gates = recordedGates[task] else { return nil }
        let delta = Tensor(zeros: [outFeatures, inFeatures])
        BLAS.matmul(combinedBranch(gates), trunk, into: delta, alpha: scale)
        if let pair = own[task] { BLAS.matmul(pair.b, pair.a, into: delta, alpha: scale, beta: 1) }
        return delta
    }

    public func namedTensors() -> [(String, Tensor)] {
        var named: [(String, Tensor)] = [("trunk_A", trunk)]
        for (i, branch) in branches.enumerated() { named.append(("branch_B.\(i)", branch)) }
        for (t, router) in routers.enumerated() {
            named.append(("router.\(t + 1).weight", router.weight))
            named.append(("router.\(t + 1).bias", router.bias))
        }
        for t in own.keys.sorted() {
            named.append(("own_A.\(t)", own[t]!.a))
            named.append(("own_B.\(t)", own[t]!.b))
        }
        return named
    }

    /// The trunk (unless frozen), the unfrozen branches and the task's own router while it is live.
    public func trainableTensors(task: Int) -> [(String, Tensor)] {
        guard task > 0 else { return [] }
        var named: [(String, Tensor)] = trunkFrozen ? [] : [("trunk_A", trunk)]
        for (i, branch) in branches.enumerated() where !frozenBranches.contains(i) { named.append(("branch_B.\(i)", branch)) }
        if recordedGates[task] == nil, task <= routers.count {
            named.append(("router.\(task).weight", routers[task - 1].weight))
            named.append(("router.\(task).bias", routers[task - 1].bias))
            if let pair = own[task] { named += [("own_A.\(task)", pair.a), ("own_B.\(task)", pair.b)] }
        }
        return named
    }

    /// A copy that shares what is frozen — the trunk once frozen, frozen branches, finished tasks' routers and
    /// pairs — since nothing writes to those (`reopenTask` copies what it makes trainable again), and copies the
    /// rest. A copy then costs the tunable tensors, not every finished task's (the tuner copies at every check).
    public func copy() -> any Adapter {
        let finished = { (task: Int) in self.recordedGates[task] != nil }
        return BranchLoRAAdapter(
            trunk: trunkFrozen ? trunk : trunk.copy(),
            branches: branches.indices.map { frozenBranches.contains($0) ? branches[$0] : branches[$0].copy() },
            scale: scale, topK: topK,
            routers: routers.indices.map { finished($0 + 1) ? routers[$0] : (routers[$0].weight.copy(), routers[$0].bias.copy()) },
            recordedGates: recordedGates, frozenBranches: frozenBranches, trunkFrozen: trunkFrozen, ownRank: ownRank,
            own: Dictionary(uniqueKeysWithValues: own.map { task, pair in (task, finished(task) ? pair : pair.copied()) }))
    }
}
