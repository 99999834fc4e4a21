import Foundation
import LLaVA
import Tensor

/// LLaVA-c: spectral-aware consolidation of each task's update into the accumulated one, plus unsupervised
/// inquiry regularisation. The paper gives no formulas; ours (docs/STRATEGIES.md):
///
/// - Each task trains a fresh LoRA ΔW_t on top of the base with the accumulated update ΔW merged in.
/// - Consolidation: with P the projector onto ΔW's leading left singular subspace (90% of its spectral energy),
///   ΔW ← ΔW + (I − ½P) ΔW_t. Where the new task writes into directions earlier tasks already use, old and new
///   get equal weight (an average in that subspace); in fresh directions the new task adds fully. The result is
///   truncated back to a low-rank factorisation by SVD (99.9% energy, at most `maximumRank`).
/// - Inquiry regularisation: text-only inquiries (every known task's questions, image marker removed) keep the
///   tuned model's next-token distribution close to the base model's: λ · KL(base ‖ tuned), λ = `inquiryWeight`.
public struct LLaVAC: ContinualStrategy {
    public var name: String { "llava-c" }
    public var adapterKind: AdapterSet.Kind { .lora }
    public var subspaceEnergy: Float = 0.9
    public var inquiryWeight: Float = 0.5
    public var inquiriesPerStep = 4
    public var maximumRank = 64

    public init() {}

    public func plan(task: ContinualTask, earlier: [ContinualTask], snapshot: Snapshot) throws -> TuningPlan {
        if let accumulated = snapshot.adapters, accumulated.settings.kind != .lora {
            throw AdapterTuning.TuningError.kindMismatch(snapshot: accumulated.settings.kind, requested: .lora)
        }
        var plan = TuningPlan(for: adapterKind)
        plan.freshAdapters = true
        let base = snapshot.base
        var trainingModel = base.model
        if let accumulated = snapshot.adapters, let merged = accumulated.merged(into: base.model.text, task: 1) {
            trainingModel.text = merged
        }
        plan.trainingModel = trainingModel
        let inquiries = Self.inquiries(tasks: earlier + [task], pipeline: base)
        let teacher = Distillation.teacher(model: base.model, prompts: inquiries)
        var generator = SplitMix64(seed: 0x11AC)
        let weight = inquiryWeight, count = inquiriesPerStep
        plan.auxiliaryLoss = { run, _, gradients in
            guard !inquiries.isEmpty else { return 0 }
            let chosen = (0 ..< count).map { _ in Int.random(in: 0 ..< inquiries.count, using: &generator) }
            return Distillation.step(model: run.model, prompts: chosen.map { inquiries[$0] }, teacher: chosen.map { teacher[$0] },
                                     options: .init(adapters: run.adapters, task: run.task, padId: run.padId), weight: weight,
                                     gradients: gradients)
        }
        let energy = subspaceEnergy, maximumRank = self.maximumRank
        plan.consolidate = { run in
            Self.consolidate(accumulated: snapshot.adapters, new: run.adapters, energy: energy, maximumRank: maximumRank)
        }
        return plan
    }

    /// Distinct questions of the tasks as text-only prompts (the image marker and its line break removed).
    static func inquiries(tasks: [ContinualTask], pipeline: LlavaPipeline, limit: Int = 256) -> [[Int]] {
        var seen = Set<String>()
        var prompts: [[Int]] = []
        let template = textOnlyTemplate(pipeline.settings)
        for task in tasks {
            for example in task.examples where seen.insert(example.item.question).inserted && prompts.count < limit {
                prompts.append(pipeline.tokenizer.encode(template.replacingOccurrences(of: "{question}", with: example.item.question)))
            }
        }
        return prompts
    }

    /// The prompt template without its image: "USER: <image>\n{question} ASSISTANT:" and
    /// "USER: {question}\n<image> ASSISTANT:" both become "USER: {question} ASSISTANT:".
    static func textOnlyTemplate(_ settings: ModelSettings) -> String {
        let marker = settings.imageToken
        return settings.promptTemplate.replacingOccurrences(of: marker + "\n", with: "")
            .replacingOccurrences(of: "\n" + marker, with: "")
            .replacingOccurrences(of: marker, with: "")
    }

    /// ΔW ← ΔW + (I − ½P) ΔW_t per adapted projection, refactorised as a LoRA of scale 1.
    static func consolidate(accumulated: AdapterSet?, new: AdapterSet, energy: Float, maximumRank: Int) -> AdapterSet {
        var layers: [[String: any Adapter]] = []
        var rank = 1
        for (index, adapters) in new.layers.enumerated() {
            var consolidated: [String: any Adapter] = [:]
            for (projection, adapter) in adapters {
                let delta = adapter.mergedDelta(task: 1)!
                if let previous = accumulated?.adapter(layer: index, projection: projection)?.mergedDelta(task: 1),
                   let svd = try? SVD.decompose(previous) {
                    let k = SVD.rank(for: svd.values, energy: energy)
                    if k > 0 {
                        // P ΔW_t = U_k (U_kᵀ ΔW_t); add ΔW_t − ½ P ΔW_t to the previous update.
                        let basis = Tensor(zeros: [delta.rows, k])
                        for row in 0 ..< delta.rows { (basis.data + row * k).update(from: svd.u.data + row * svd.u.columns, count: k) }
                        let coordinates = Tensor(zeros: [k, delta.columns])
                        BLAS.matmul(basis, transposeA: true, delta, into: coordinates)
                        BLAS.matmul(basis, coordinates, into: delta, alpha: -0.5, beta: 1)
                    }
                    Elementwise.add(delta, previous)
                }
                let factors = factorize(delta, energy: 0.999, maximumRank: maximumRank)
                rank = max(rank, factors.a.rows)
                consolidated[projection] = LoRAAdapter(a: factors.a, b: factors.b, scale: 1)
            }
            layers.append(consolidated)
        }
        // Every factor pair padded to the same rank, so the adapter file has one shape per tensor kind.
        let padded = layers.map { $0.mapValues { adapter -> any Adapter in
            let lora = adapter as! LoRAAdapter
            guard lora.rank < rank else { return lora }
            let a = Tensor(zeros: [rank, lora.inFeatures]), b = Tensor(zeros: [lora.outFeatures, rank])
            a.slice(0 ..< lora.rank).copy(from: lora.a)
            for row in 0 ..< lora.outFeatures { (b.data + row * rank).update(from: lora.b.data + row * lora.rank, count: lora.rank) }
            return LoRAAdapter(a: a, b: b, scale: 1)
        } }
        var settings = new.settings
        settings.rank = rank
        settings.alpha = Float(rank)
        return AdapterSet(settings: settings, layers: padded)
    }

    /// ΔW ≈ B A with A = Vᵀ_k, B = U_k S_k, keeping `energy` of the spectrum.
    static func factorize(_ delta: Tensor, energy: Float, maximumRank: Int) -> (a: Tensor, b: Tensor) {
        guard let svd = try? SVD.decompose(delta) else { return (Tensor(zeros: [1, delta.columns]), Tensor(zeros: [delta.rows, 1])) }
        let k = max(1, min(SVD.rank(for: svd.values, energy: energy), maximumRank))
        let a = svd.vt.slice(0 ..< k).copy()
        let b = Tensor(zeros: [delta.rows, k])
        for row in 0 ..< delta.rows {
            for j in 0 ..< k { b.data[row * k + j] = svd.u.data[row * svd.u.columns + j] * svd.values[j] }
        }
        return (a, b)
    }
}
