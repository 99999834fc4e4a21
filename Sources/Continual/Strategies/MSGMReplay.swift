import Foundation
import LLaVA

/// The combination "Improving Multimodal Large Language Models Using Continual Learning" (Srivastava et al.,
/// CoLLAs 2025) found best for continual LLaVA training: stability-gap minimisation (mSGM) with rehearsal.
///
/// SGM (Harun & Kanan, "Overcoming the Stability Gap in Continual Learning") combines LoRA-limited plasticity,
/// dynamic soft targets, data-driven output-layer initialisation and freezing old output classes; for a
/// generative model with a fixed vocabulary the last two have no counterpart, which is what the modified
/// variant drops. Ours (docs/STRATEGIES.md): one LoRA adapter keeps training (limited plasticity); each answer
/// token's target is (1 − ε)·one-hot + ε·the pre-task model's distribution at that position (soft targets from
/// the model itself, recomputed every batch); and a fixed sample of earlier tasks is mixed into every batch.
public struct MSGMReplay: ContinualStrategy {
    public var name: String { "msgm-replay" }
    public var adapterKind: AdapterSet.Kind { .lora }
    public var softTargetWeight: Float = 0.2
    public var replay = Replay()

    public init() {}

    public func plan(task: ContinualTask, earlier: [ContinualTask], snapshot: Snapshot) throws -> TuningPlan {
        var plan = try replay.plan(task: task, earlier: earlier, snapshot: snapshot)
        plan.softTargetWeight = softTargetWeight
        return plan
    }
}
