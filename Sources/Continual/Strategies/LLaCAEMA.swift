import Foundation
import LLaVA
import Tensor

/// LLaCA's adaptive exponential moving average (docs/DESIGN.md §4).
///
/// After every optimiser step, for each adapter tensor:
/// α = 2(1 + ‖g_t‖₁) / (‖θ_t − θ_ema‖₁ · ‖g_t − g_{t−1}‖₁), replaced by 0.01 when outside (0, 1) or undefined
/// (the first step, or a zero denominator); θ_ema ← (1 − α) θ_ema + α θ_t. The EMA weights become the task's
/// result. θ_ema starts from the weights the task starts from, so the average leans on what earlier tasks learned.
public struct LLaCAEMA: ContinualStrategy {
    public var name: String { "llaca-ema" }
    public var adapterKind: AdapterSet.Kind { .lora }
    public static let fallback: Float = 0.01
    public init() {}

    /// The balance weight for one tensor.
    public static func weight(gradientNorm: Double, distance: Double, gradientChange: Double?) -> Float {
        guard let gradientChange else { return fallback }
        let denominator = distance * gradientChange
        guard denominator > 0, denominator.isFinite else { return fallback }
        let alpha = 2 * (1 + gradientNorm) / denominator
        return alpha > 0 && alpha < 1 && alpha.isFinite ? Float(alpha) : fallback
    }

    final class State: @unchecked Sendable {
        var averages: [ObjectIdentifier: Tensor] = [:]
        var previousGradients: [ObjectIdentifier: Tensor] = [:]
        var lastWeights: [ObjectIdentifier: Float] = [:]
    }

    public func plan(task: ContinualTask, earlier: [ContinualTask], snapshot: Snapshot) throws -> TuningPlan {
        let state = State()
        var plan = TuningPlan(for: adapterKind)
        plan.beforeUpdate = { run, step in
            // The average starts at the weights this task starts from.
            guard step == 0 else { return }
            for (_, parameter) in run.adapters.trainableTensors(task: run.task) {
                state.averages[ObjectIdentifier(parameter.storage)] = parameter.copy()
            }
        }
        plan.afterStep = { run, _ in
            for (_, parameter) in run.adapters.trainableTensors(task: run.task) {
                let key = ObjectIdentifier(parameter.storage)
                guard let gradient = run.gradients.of(parameter), let average = state.averages[key] else { continue }
                let gradientNorm = Self.l1(gradient)
                let distance = Self.l1Difference(parameter, average)
                let change = state.previousGradients[key].map { Self.l1Difference(gradient, $0) }
                let alpha = Self.weight(gradientNorm: gradientNorm, distance: distance, gradientChange: change)
                state.lastWeights[key] = alpha
                for i in 0 ..< parameter.count { average.data[i] = (1 - alpha) * average.data[i] + alpha * parameter.data[i] }
                state.previousGradients[key] = gradient.copy()
            }
        }
        plan.finish = { run in
            for (_, parameter) in run.adapters.trainableTensors(task: run.task) {
                if let average = state.averages[ObjectIdentifier(parameter.storage)] { parameter.copy(from: average) }
            }
        }
        return plan
    }

    static func l1(_ t: Tensor) -> Double {
        var sum: Double = 0
        for i in 0 ..< t.count { sum += Double(abs(t.data[i])) }
        return sum
    }

    static func l1Difference(_ a: Tensor, _ b: Tensor) -> Double {
        var sum: Double = 0
        for i in 0 ..< a.count { sum += Double(abs(a.data[i] - b.data[i])) }
        return sum
    }
}
