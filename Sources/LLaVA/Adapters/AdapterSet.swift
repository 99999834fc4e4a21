import Foundation
import Tensor

/// The adapters of a decoder: one per (layer, target projection), all of one kind.
public final class AdapterSet: @unchecked Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case lora, moeLora = "moe-lora", branchLora = "branchlora"

        /// The adapter task a routed task is answered with, nil for the base weights alone: BranchLoRA answers
        /// per task and its base task is the base model; LoRA-style kinds have no per-task state and adapt
        /// every query, the base task's included.
        func servedTask(for task: Int) -> Int? {
            switch self {
            case .branchLora: task == 0 ? nil : task
            case .lora, .moeLora: max(task, 1)
            }
        }

        /// Whether a task's adapters fold into dense weights (MoELoRA's input-dependent gates do not).
        var merges: Bool { self != .moeLora }
    }

    public struct Settings: Codable, Sendable, Equatable {
        public var kind: Kind
        public var targets: [String]
        public var rank: Int
        public var alpha: Float
        /// MoELoRA experts / BranchLoRA branches.
        public var branches: Int
        public var topK: Int
        /// BranchLoRA: rank of the pair each task owns beside the shared trunk (0: none); other kinds have none.
        public var ownRank: Int

        public init(kind: Kind, targets: [String] = ["q_proj", "v_proj"], rank: Int = 8, alpha: Float = 16,
                    branches: Int = 8, topK: Int = 2, ownRank: Int = 0) {
            self.kind = kind
            self.targets = targets
            self.rank = rank
            self.alpha = alpha
            self.branches = branches
            self.topK = topK
            self.ownRank = ownRank
        }

        enum CodingKeys: String, CodingKey { case kind, targets, rank, alpha, branches, topK = "top_k", ownRank = "own_rank" }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.init(kind: try container.decode(Kind.self, forKey: .kind), targets: try container.decode([String].self, forKey: .targets),
                      rank: try container.decode(Int.self, forKey: .rank), alpha: try container.decode(Float.self, forKey: .alpha),
                      branches: try container.decode(Int.self, forKey: .branches), topK: try container.decode(Int.self, forKey: .topK),
                      // Written before tasks could own a pair.
                      ownRank: try container.decodeIfPresent(Int.self, forKey: .ownRank) ?? 0)
        }

        /// Why these settings cannot build adapters, or nil.
        public var problem: String? {
            if rank < 1 { return "rank must be at least 1" }
            if targets.isEmpty { return "no target projections" }
            if let unknown = targets.first(where: { !Llama.DecoderLayer.projectionNames.contains($0) }) {
                return "unknown target projection \(unknown); choose from \(Llama.DecoderLayer.projectionNames.joined(separator: ", "))"
            }
            if kind != .lora && branches < 1 { return "at least one expert or branch is needed" }
            if kind == .moeLora && rank % branches != 0 { return "MoELoRA splits rank \(rank) over \(branches) experts: it must divide evenly" }
            if kind == .branchLora && !(1 ... branches).contains(topK) { return "top-k \(topK) must be between 1 and \(branches) branches" }
            if ownRank < 0 { return "own rank must be 0 or more" }
            return nil
        }
    }

    public let settings: Settings
    /// layers[l][projection name]
    public let layers: [[String: any Adapter]]

    public init(settings: Settings, layers: [[String: any Adapter]]) {
        self.settings = settings
        self.layers = layers
    }

    /// Fresh adapters on the decoder's target projections.
    public convenience init(settings: Settings, decoder: Llama.Weights, seed: UInt64) {
        var layers: [[String: any Adapter]] = []
        for (index, layer) in decoder.layers.enumerated() {
            var adapters: [String: any Adapter] = [:]
            for (t, name) in settings.targets.enumerated() {
                guard let linear = layer[projection: name] else { continue }
                let seed = seed &+ UInt64(index * 64 + t) &* 7919
                switch settings.kind {
                case .lora:
                    adapters[name] = LoRAAdapter(inFeatures: linear.inFeatures, outFeatures: linear.outFeatures,
                                                 rank: settings.rank, alpha: settings.alpha, seed: seed)
                case .moeLora:
                    adapters[name] = MoELoRAAdapter(inFeatures: linear.inFeatures, outFeatures: linear.outFeatures,
                                                    rank: settings.rank, alpha: settings.alpha, experts: settings.branches, seed: seed)
                case .branchLora:
                    adapters[name] = BranchLoRAAdapter(inFeatures: linear.inFeatures, outFeatures: linear.outFeatures,
                                                       rank: settings.rank, alpha: settings.alpha,
                                                       branchCount: settings.branches, topK: settings.topK,
                                                       ownRank: settings.ownRank, seed: seed)
                }
            }
            layers.append(adapters)
        }
        self.init(settings: settings, layers: layers)
    }

    public func adapter(layer: Int, projection: String) -> (any Adapter)? { layers[layer][projection] }

    /// An independent copy of every adapter.
    public func copy() -> AdapterSet {
        AdapterSet(settings: settings, layers: layers.map { $0.mapValues { $0.copy() } })
    }

    /// Every adapter tensor under PEFT-like names: `layers.{l}.{projection}.{tensor}`.
    public func namedTensors() -> [(String, Tensor)] {
        var named: [(String, Tensor)] = []
        for (index, adapters) in layers.enumerated() {
            for name in adapters.keys.sorted() {
                for (tensorName, tensor) in adapters[name]!.namedTensors() {
                    named.append(("layers.\(index).\(name).\(tensorName)", tensor))
                }
            }
        }
        return named
    }

    public func trainableTensors(task: Int) -> [(String, Tensor)] {
        var named: [(String, Tensor)] = []
        for (index, adapters) in layers.enumerated() {
            for name in adapters.keys.sorted() {
                for (tensorName, tensor) in adapters[name]!.trainableTensors(task: task) {
                    named.append(("layers.\(index).\(name).\(tensorName)", tensor))
                }
            }
        }
        return named
    }

    /// Whether every adapter has a dense update for `task` (then serving costs a plain dense forward).
    func isMergeable(task: Int) -> Bool {
        layers.allSatisfy { $0.values.allSatisfy { $0.mergedDelta(task: task) != nil } }
    }

    /// Whether merging pays on `decoder`: its adapted projections are float32, so W + Δ is exact and multiplies
    /// as fast as W. A half-precision matrix would come out of a merge widened — twice its memory per task, and
    /// float32 products slower than the half ones — so there tasks are answered unmerged (a rank-r product per
    /// projection, a few percent of its cost).
    func mergesCheaply(into decoder: Llama.Weights) -> Bool {
        layers.indices.allSatisfy { index in
            layers[index].keys.allSatisfy { name in decoder.layers[index][projection: name]?.matrix.fullTensor != nil }
        }
    }

    /// The decoder with `task`'s updates folded in: W + Δ for every adapted projection; other weights shared.
    /// The memory a merged decoder adds to the base: one new weight matrix per adapted projection.
    public func mergedBytes(decoder: Llama.Weights) -> Int {
        var count = 0
        for (index, adapters) in layers.enumerated() {
            for name in adapters.keys { count += decoder.layers[index][projection: name].map { $0.inFeatures * $0.outFeatures } ?? 0 }
        }
        return count * MemoryLayout<Float>.stride
    }

    public func merged(into decoder: Llama.Weights, task: Int) -> Llama.Weights? {
        var result = decoder
        for (index, adapters) in layers.enumerated() {
            for (name, adapter) in adapters {
                guard let delta = adapter.mergedDelta(task: task) else { return nil }
                guard var linear = result.layers[index][projection: name] else { continue }
                let weight = linear.weight.copy()
                Elementwise.add(weight, delta)
                linear.weight = weight
                result.layers[index][projection: name] = linear
            }
        }
        return result
    }
}
