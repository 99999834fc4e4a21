import Foundation
import Tensor

/// Data parallelism within one machine: a batch is cut into one shard per core, the shards run at the same
/// time on single-threaded BLAS, and their gradients are summed into the batch's. On our 2-core machines this
/// beats one batch on two BLAS threads (`mneme bench train`: LoRA tuning about a fifth faster, full training
/// about a third), because a small matrix product split over two threads spends much of its time waiting,
/// and the work between products (norms, attention, activations) now runs on both cores as well.
///
/// BLAS threads are a process-wide setting, so a trainer that shares the process with a server's queries
/// (it has a `TrainingYield` handler installed) runs unsharded and leaves the queries their threads.
public final class ShardedStep {
    public let shards: Int
    /// Gradient buffers for shards 1 …, mirroring the trainable tensors of `mirrored`.
    private var mirrors: [Gradients] = []
    private var mirrored: Gradients?

    public init(shards: Int = Parallel.workers) {
        self.shards = max(1, shards)
    }

    /// `LlavaTraining.step` on the whole batch: same loss and gradients (up to summation order).
    public func step(model: LlavaModel, examples: [TrainingExample], options: LlavaTraining.Options,
                     gradients: Gradients?) -> LlavaTraining.StepResult {
        let count = min(shards, examples.count)
        guard count > 1, !TrainingYield.isInstalledOnCurrentThread else {
            return LlavaTraining.step(model: model, examples: examples, options: options, gradients: gradients)
        }
        var sharded = options
        sharded.batchTotals = .init(of: examples, supervision: options.patchSupervision)
        let parts = (0 ..< count).map { Array(examples[examples.count * $0 / count ..< examples.count * ($0 + 1) / count]) }
        let buffers = gradients.map { [$0] + mirrors(of: $0, count: count - 1) } ?? Array(repeating: nil, count: count)
        let results = UnsafeMutableBufferPointer<LlavaTraining.StepResult>.allocate(capacity: count)
        defer { results.deallocate() }

        let threads = BLAS.threads
        BLAS.setThreads(1)
        let work = UncheckedBox({ (shard: Int) in
            if shard > 0 { buffers[shard]?.zero() }
            results.initializeElement(at: shard, to: LlavaTraining.step(model: model, examples: parts[shard], options: sharded,
                                                                        gradients: buffers[shard]))
        })
        DispatchQueue.concurrentPerform(iterations: count) { work.value($0) }
        BLAS.setThreads(threads)

        if let gradients {
            for mirror in buffers.dropFirst().compactMap({ $0 }) {
                for (_, tensor) in gradients.parameters { Elementwise.add(gradients.of(tensor)!, mirror.of(tensor)!) }
            }
        }
        let patchLosses = results.compactMap(\.patchLoss)
        return LlavaTraining.StepResult(loss: results.reduce(0) { $0 + $1.loss }, tokens: results.reduce(0) { $0 + $1.tokens },
                                        patchLoss: patchLosses.isEmpty ? nil : patchLosses.reduce(0, +))
    }

    private func mirrors(of gradients: Gradients, count: Int) -> [Gradients] {
        if mirrored !== gradients || mirrors.count < count || mirrors.first?.parameterCount != gradients.parameterCount {
            mirrors = (0 ..< count).map { _ in
                let mirror = Gradients()
                mirror.register(gradients.parameters.map { ($0.name, $0.value) })
                return mirror
            }
            mirrored = gradients
        }
        return Array(mirrors.prefix(count))
    }
}
