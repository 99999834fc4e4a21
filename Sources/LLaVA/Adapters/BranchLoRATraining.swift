import Tensor

/// The BranchLoRA steps that need the decoder's activations.
public enum BranchLoRATraining {
    /// Records `task`'s gates and freezes its most-used branches, reading each adapter's input at the first
    /// token of the first sequence of a forward pass that ran with this task's live routers.
    public static func finishTask(_ task: Int, adapters: AdapterSet, activations: LlamaTraining.Activations) {
        for (index, layer) in adapters.layers.enumerated() {
            for (projection, adapter) in layer {
                guard let branch = adapter as? BranchLoRAAdapter,
                      let input = activations.adapterInput(layer: index, projection: projection) else { continue }
                branch.finishTask(task, firstInput: input.data)
            }
        }
    }

    /// Adds a router for a new task to every BranchLoRA adapter; returns the new task's index.
    @discardableResult
    public static func addTask(adapters: AdapterSet, seed: UInt64) -> Int {
        var task = 0
        for (index, layer) in adapters.layers.enumerated() {
            for projection in layer.keys.sorted() {
                if let branch = layer[projection] as? BranchLoRAAdapter {
                    task = branch.addTask(seed: seed &+ UInt64(index * 16 + projection.count))
                }
            }
        }
        return task
    }
}

extension BranchLoRATraining {
    /// Makes the finished `task` trainable again in every BranchLoRA adapter (`BranchLoRAAdapter.reopenTask`).
    public static func reopenTask(_ task: Int, adapters: AdapterSet) {
        for layer in adapters.layers {
            for adapter in layer.values { (adapter as? BranchLoRAAdapter)?.reopenTask(task) }
        }
    }
}

extension LlamaTraining.Activations {
    /// What the adapter on `projection` of `layer` received in this forward pass (N, in).
    func adapterInput(layer index: Int, projection: String) -> Tensor? {
        let saved = layers[index]
        switch projection {
        case "q_proj", "k_proj", "v_proj": return saved.normed1
        case "o_proj": return saved.attended
        case "gate_proj", "up_proj": return saved.normed2
        case "down_proj": return saved.activated
        default: return nil
        }
    }
}
