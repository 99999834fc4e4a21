import Foundation
import ModelIO
import Tensor

/// Writes a task's adapters as a plain PEFT LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`).
///
/// BranchLoRA exports exactly: its trunk is LoRA's A and the gate-weighted sum of branches its B; a task's own
/// pair adds its rows to A and its columns to B (one LoRA of rank r + k with the same scale).
public enum PEFTExport {
    public enum ExportError: Error, CustomStringConvertible {
        case notPlainLoRA(AdapterSet.Kind)
        case taskInTraining(Int)
        public var description: String {
            switch self {
            case let .notPlainLoRA(kind): return "\(kind.rawValue) adapters route per token and have no plain LoRA form"
            case let .taskInTraining(task): return "task \(task) has no recorded gates"
            }
        }
    }

    /// (A, B) of the plain LoRA equivalent to `adapter` for `task`.
    static func plain(_ adapter: any Adapter, task: Int) throws -> (a: Tensor, b: Tensor) {
        switch adapter {
        case let lora as LoRAAdapter: return (lora.a, lora.b)
        case let branch as BranchLoRAAdapter:
            let width = branch.rank + branch.ownRank
            let a = Tensor(zeros: [width, branch.inFeatures]), b = Tensor(zeros: [branch.outFeatures, width])
            a.data.update(from: branch.trunk.data, count: branch.trunk.count)
            guard let gates = branch.recordedGates[task] else {
                if task == 0 { return (a, b) }
                throw ExportError.taskInTraining(task)
            }
            let combined = branch.combinedBranch(gates)
            for row in 0 ..< branch.outFeatures {
                (b.data + row * width).update(from: combined.data + row * branch.rank, count: branch.rank)
            }
            if let pair = branch.own[task] {
                (a.data + branch.trunk.count).update(from: pair.a.data, count: pair.a.count)
                for row in 0 ..< branch.outFeatures {
                    (b.data + row * width + branch.rank).update(from: pair.b.data + row * branch.ownRank, count: branch.ownRank)
                }
            }
            return (a, b)
        default: throw ExportError.notPlainLoRA(.moeLora)
        }
    }

    public static func write(_ adapters: AdapterSet, task: Int, baseModel: String, to directory: URL) throws {
        guard adapters.settings.kind != .moeLora else { throw ExportError.notPlainLoRA(.moeLora) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var tensors: [String: Tensor] = [:]
        for (index, layer) in adapters.layers.enumerated() {
            for (projection, adapter) in layer {
                let group = ["gate_proj", "up_proj", "down_proj"].contains(projection) ? "mlp" : "self_attn"
                let prefix = "base_model.model.model.language_model.layers.\(index).\(group).\(projection)"
                let (a, b) = try plain(adapter, task: task)
                tensors[prefix + ".lora_A.weight"] = a
                tensors[prefix + ".lora_B.weight"] = b
            }
        }
        try SafeTensorsWriter.write(tensors, to: directory.appendingPathComponent("adapter_model.safetensors"), metadata: ["format": "pt"])
        let targets = adapters.settings.targets.joined(separator: "|")
        // One LoRA of rank r + k for BranchLoRA with own pairs, alpha scaled so that alpha / rank stays α / r.
        let settings = adapters.settings
        let rank = settings.rank + (settings.kind == .branchLora ? settings.ownRank : 0)
        let config: [String: Any] = [
            "peft_type": "LORA", "r": rank, "lora_alpha": settings.alpha * Float(rank) / Float(settings.rank),
            "target_modules": ".*language_model.*\\.(\(targets))", "lora_dropout": 0.0, "bias": "none",
            "fan_in_fan_out": false, "inference_mode": true, "base_model_name_or_path": baseModel,
            "init_lora_weights": true, "use_rslora": false, "use_dora": false,
        ]
        try AtomicFile.write(JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                             to: directory.appendingPathComponent("adapter_config.json"))
    }
}
