import Foundation
import LLaVA
import Tensor

/// Optimiser settings of one training run.
public struct TrainingSettings: Sendable, Codable, Equatable {
    public var steps: Int
    public var batchSize: Int
    public var learningRate: Float
    public var warmupSteps: Int
    public var weightDecay: Float
    public var clipNorm: Float
    public var seed: UInt64

    public init(steps: Int, batchSize: Int = 16, learningRate: Float = 1e-3, warmupSteps: Int = 20,
                weightDecay: Float = 0, clipNorm: Float = 1, seed: UInt64 = 0) {
        self.steps = steps
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.warmupSteps = warmupSteps
        self.weightDecay = weightDecay
        self.clipNorm = clipNorm
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case steps, batchSize = "batch_size", learningRate = "learning_rate", warmupSteps = "warmup_steps"
        case weightDecay = "weight_decay", clipNorm = "clip_norm", seed
    }
}

/// Where a run stands, for progress bars and job records.
public struct TrainingProgress: Sendable {
    public var step: Int
    public var total: Int
    /// Exponential moving average of the batch loss.
    public var loss: Float
    public var itemsPerSecond: Double
    public var etaSeconds: Double
    public var learningRate: Float
    /// Moving average of the auxiliary patch-label loss, when the run has patch supervision.
    public var patchLoss: Float?
    /// Moving average of the auxiliary attention loss, when the run has attention supervision.
    public var attentionLoss: Float?
}

public struct TrainingReport: Sendable {
    public var steps: Int
    public var finalLoss: Float
    public var seconds: Double
    public var itemsPerSecond: Double
}

/// One batch: the examples, and optionally an auxiliary loss that adds its own gradients (selector alignment,
/// regularisers). The auxiliary function receives nil gradients when only the value is wanted.
public struct TrainingBatch {
    public var examples: [TrainingExample]
    public var auxiliary: ((Gradients) -> Float)?
    /// Items the batch stands for, for throughput (defaults to the examples; an auxiliary-only batch sets it).
    public var items: Int

    public init(examples: [TrainingExample], auxiliary: ((Gradients) -> Float)? = nil, items: Int? = nil) {
        self.examples = examples
        self.auxiliary = auxiliary
        self.items = items ?? examples.count
    }
}

/// The training loop: batches → forward/backward → clip → AdamW with warm-up and cosine decay.
public final class Trainer {
    public let model: LlavaModel
    public let gradients: Gradients
    public let settings: TrainingSettings
    public let optimizer: AdamW
    public var options: LlavaTraining.Options
    /// Called after clipping, before each optimiser step (strategies that project gradients hook in here).
    public var beforeUpdate: ((Int) -> Void)?
    /// Called after each optimiser step with the step index (strategies such as LLaCA's EMA hook in here).
    public var afterStep: ((Int) -> Void)?
    /// Called after each step with the number of steps done; false stops the run early (a plateau).
    public var shouldContinue: ((Int) -> Bool)?
    /// A factor on the scheduled learning rate of each 0-based step (a watch's cool-down).
    public var rateFactor: ((Int) -> Float)?
    /// Runs each batch as one shard per core.
    public let sharded = ShardedStep()

    public init(model: LlavaModel, gradients: Gradients, settings: TrainingSettings, options: LlavaTraining.Options) {
        self.model = model
        self.gradients = gradients
        self.settings = settings
        self.options = options
        optimizer = AdamW(settings: AdamW.Settings(weightDecay: settings.weightDecay))
    }

    public func run(batch next: (Int) -> TrainingBatch, progress: ((TrainingProgress) -> Void)? = nil) -> TrainingReport {
        let schedule = LearningRateSchedule(peak: settings.learningRate, warmupSteps: min(settings.warmupSteps, settings.steps / 2),
                                            totalSteps: settings.steps)
        let clock = ContinuousClock()
        let start = clock.now
        var smoothed: Float = .nan
        var smoothedPatch: Float?, smoothedAttention: Float?
        var items = 0
        var done = 0
        for step in 0 ..< settings.steps {
            let batch = next(step)
            gradients.zero()
            var loss: Float = 0
            if !batch.examples.isEmpty {
                let result = sharded.step(model: model, examples: batch.examples, options: options, gradients: gradients)
                loss = result.loss
                smoothedPatch = Self.movingAverage(smoothedPatch, adding: result.patchLoss)
                smoothedAttention = Self.movingAverage(smoothedAttention, adding: result.attentionLoss)
            }
            if let auxiliary = batch.auxiliary { loss += auxiliary(gradients) }
            gradients.clip(norm: settings.clipNorm)
            beforeUpdate?(step)
            let rate = schedule.rate(at: step) * (rateFactor?(step) ?? 1)
            optimizer.update(gradients, rate: rate)
            afterStep?(step)
            items += batch.items
            smoothed = smoothed.isNaN ? loss : 0.9 * smoothed + 0.1 * loss
            let elapsed = start.duration(to: clock.now).milliseconds / 1000
            let perStep = elapsed / Double(step + 1)
            progress?(TrainingProgress(step: step + 1, total: settings.steps, loss: smoothed,
                                       itemsPerSecond: Double(items) / max(elapsed, 1e-9),
                                       etaSeconds: perStep * Double(settings.steps - step - 1), learningRate: rate,
                                       patchLoss: smoothedPatch, attentionLoss: smoothedAttention))
            done = step + 1
            if let shouldContinue, !shouldContinue(done) { break }
        }
        let seconds = start.duration(to: clock.now).milliseconds / 1000
        return TrainingReport(steps: done, finalLoss: smoothed, seconds: seconds, itemsPerSecond: Double(items) / max(seconds, 1e-9))
    }

    /// The auxiliary losses' moving average: starts at the first value, unchanged by steps without one.
    private static func movingAverage(_ average: Float?, adding value: Float?) -> Float? {
        guard let value else { return average }
        return average.map { 0.9 * $0 + 0.1 * value } ?? value
    }
}

/// Seeded shuffling of example indices into batches, epoch after epoch.
public struct BatchSampler {
    private var generator: SplitMix64
    private var order: [Int] = []
    private var position = 0
    public let count: Int

    public init(count: Int, seed: UInt64) {
        self.count = count
        generator = SplitMix64(seed: seed)
    }

    public mutating func next(_ size: Int) -> [Int] {
        var batch: [Int] = []
        while batch.count < min(size, count) {
            if position == order.count {
                order = Array(0 ..< count).shuffled(using: &generator)
                position = 0
            }
            batch.append(order[position])
            position += 1
        }
        return batch
    }
}
