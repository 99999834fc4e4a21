import Foundation
import LLaVA
import Tensor

/// AdamW (decoupled weight decay, bias-corrected moments) over the parameters registered in a `Gradients`.
public final class AdamW: @unchecked Sendable {
    public struct Settings: Sendable, Codable, Equatable {
        public var beta1: Float = 0.9
        public var beta2: Float = 0.999
        public var epsilon: Float = 1e-8
        public var weightDecay: Float = 0
        /// Decay only matrices (rank ≥ 2), never norms, biases or embeddings' rows as vectors.
        public var decayMatricesOnly = true
        public init(weightDecay: Float = 0) { self.weightDecay = weightDecay }
    }

    public let settings: Settings
    private var moments: [ObjectIdentifier: (m: Tensor, v: Tensor)] = [:]
    public private(set) var step = 0

    public init(settings: Settings = Settings()) { self.settings = settings }

    /// One update of every registered parameter with learning rate `rate`.
    public func update(_ gradients: Gradients, rate: Float) {
        step += 1
        let s = settings
        let correction1 = 1 - powf(s.beta1, Float(step)), correction2 = 1 - powf(s.beta2, Float(step))
        for (_, parameter) in gradients.parameters {
            guard let gradient = gradients.of(parameter) else { continue }
            let key = ObjectIdentifier(parameter.storage)
            let state = moments[key] ?? (Tensor(zeros: parameter.shape), Tensor(zeros: parameter.shape))
            moments[key] = state
            let decay = (s.decayMatricesOnly && parameter.rank < 2) ? 0 : s.weightDecay
            let p = parameter.data, g = gradient.data, m = state.m.data, v = state.v.data
            for i in 0 ..< parameter.count {
                m[i] = s.beta1 * m[i] + (1 - s.beta1) * g[i]
                v[i] = s.beta2 * v[i] + (1 - s.beta2) * g[i] * g[i]
                let mHat = m[i] / correction1, vHat = v[i] / correction2
                p[i] -= rate * (mHat / (vHat.squareRoot() + s.epsilon) + decay * p[i])
            }
        }
    }
}

/// Linear warm-up then cosine decay to `minimumFactor` × peak.
public struct LearningRateSchedule: Sendable, Codable, Equatable {
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var minimumFactor: Float

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, minimumFactor: Float = 0.1) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minimumFactor = minimumFactor
    }

    /// Rate for 0-based `step`.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = max(totalSteps - warmupSteps, 1)
        let progress = min(Float(step - warmupSteps) / Float(span), 1)
        let cosine = 0.5 * (1 + cosf(.pi * progress))
        return peak * (minimumFactor + (1 - minimumFactor) * cosine)
    }
}

extension Gradients {
    /// Scales gradients so their global norm is at most `maximum`; returns the norm before clipping.
    @discardableResult
    public func clip(norm maximum: Float) -> Float {
        let total = norm()
        if total > maximum, total.isFinite { scale(by: maximum / total) }
        return total
    }
}
