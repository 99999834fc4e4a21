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
        var sharded = options
        sharded.batchTotals = .init(of: examples, supervision: options.patchSupervision, attention: options.attentionSupervision)
        let results = run(items: examples.count, gradients: gradients) { range, gradients in
            LlavaTraining.step(model: model, examples: Array(examples[range]), options: sharded, gradients: gradients)
        }
        let patchLosses = results.compactMap(\.patchLoss), attentionLosses = results.compactMap(\.attentionLoss)
        return LlavaTraining.StepResult(loss: results.reduce(0) { $0 + $1.loss }, tokens: results.reduce(0) { $0 + $1.tokens },
                                        patchLoss: patchLosses.isEmpty ? nil : patchLosses.reduce(0, +),
                                        attentionLoss: attentionLosses.isEmpty ? nil : attentionLosses.reduce(0, +))
    }

    /// `PatchSupervision.towerStep` on the whole batch.
    public func towerStep(_ supervision: PatchSupervision, model: LlavaModel, pixels: [Tensor], labels: [[[Int]]],
                          gradients: Gradients) -> Float {
        let totals = supervision.labelledPatches(in: labels)
        return run(items: pixels.count, gradients: gradients) { range, gradients in
            supervision.towerStep(model: model, pixels: Array(pixels[range]), labels: Array(labels[range]), gradients: gradients!,
                                  labelledTotals: totals)
        }.reduce(0, +)
    }

    /// Runs `shard(range, gradients)` on consecutive ranges of the items at once, shard 0 into `gradients` and
    /// the others into mirrors that are then added to it; one range of everything when sharding does not apply.
    private func run<Result>(items: Int, gradients: Gradients?, _ shard: (Range<Int>, Gradients?) -> Result) -> [Result] {
        let count = min(shards, items)
        guard count > 1, !TrainingYield.isInstalledOnCurrentThread else { return [shard(0 ..< items, gradients)] }
        let buffers = gradients.map { [$0] + mirrors(of: $0, count: count - 1) } ?? Array(repeating: nil, count: count)
        let results = UnsafeMutableBufferPointer<Result>.allocate(capacity: count)
        defer { results.deinitialize().deallocate() }

        BLAS.withThreads(1) {
            withoutActuallyEscaping(shard) { shard in
                let work = UncheckedBox({ (index: Int) in
                    if index > 0 { buffers[index]?.zero() }
                    results.initializeElement(at: index, to: shard(items * index / count ..< items * (index + 1) / count, buffers[index]))
                })
                DispatchQueue.concurrentPerform(iterations: count) { work.value($0) }
            }
        }

        if let gradients {
            for mirror in buffers.dropFirst().compactMap({ $0 }) {
                for (_, tensor) in gradients.parameters { Elementwise.add(gradients.of(tensor)!, mirror.of(tensor)!) }
            }
        }
        return Array(results)
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
