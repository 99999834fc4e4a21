import Foundation
import ModelIO
import Tensor

/// `adapters.safetensors` + `adapters.json`: every adapter tensor and selector key, and the state that is not a
/// tensor (settings, task names, recorded gates, frozen branches).
public enum AdapterFile {
    struct AdapterState: Codable {
        var recordedGates: [String: [Float]]?
        var frozenBranches: [Int]?
        var trunkFrozen: Bool?
        var routers: Int?
        /// Branches of this adapter, when more than the settings' (tasks added some).
        var branches: Int?
        enum CodingKeys: String, CodingKey {
            case recordedGates = "recorded_gates", frozenBranches = "frozen_branches", trunkFrozen = "trunk_frozen", routers, branches
        }
    }

    struct Document: Codable {
        var settings: AdapterSet.Settings
        /// Task names by id; id 0 is the base model.
        var tasks: [String]
        var adapters: [String: AdapterState]
        var selector: Bool
    }

    public static func save(_ adapters: AdapterSet, selector: TaskSelector?, tasks: [String], to directory: URL) throws {
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in adapters.namedTensors() { tensors[name] = tensor }
        var states: [String: AdapterState] = [:]
        for (index, layer) in adapters.layers.enumerated() {
            for (projection, adapter) in layer {
                guard let branch = adapter as? BranchLoRAAdapter else { continue }
                states["layers.\(index).\(projection)"] = AdapterState(
                    recordedGates: Dictionary(uniqueKeysWithValues: branch.recordedGates.map { (String($0.key), $0.value) }),
                    frozenBranches: branch.frozenBranches.sorted(), trunkFrozen: branch.trunkFrozen, routers: branch.taskCount,
                    branches: branch.branchCount)
            }
        }
        if let selector {
            for task in 0 ..< selector.taskCount {
                tensors["selector.image_key.\(task)"] = selector.imageKeys[task]
                tensors["selector.text_key.\(task)"] = selector.textKeys[task]
            }
        }
        let document = Document(settings: adapters.settings, tasks: tasks, adapters: states, selector: selector != nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SafeTensorsWriter.write(tensors, to: directory.appendingPathComponent("adapters.safetensors"), metadata: ["format": "mneme"])
        try AtomicFile.write(encoder.encode(document), to: directory.appendingPathComponent("adapters.json"))
    }

    public struct Loaded {
        public var adapters: AdapterSet
        public var selector: TaskSelector?
        public var tasks: [String]
    }

    /// Reads adapters for `decoder` (shapes are checked against its projections). `serving`: each finished
    /// BranchLoRA adapter is condensed as it is read (`ServedBranchLoRA`), so the full branches are never all in
    /// memory at once.
    public static func load(from directory: URL, decoder: Llama.Weights, serving: Bool = false) throws -> Loaded {
        let jsonURL = directory.appendingPathComponent("adapters.json")
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(contentsOf: jsonURL))
        } catch {
            throw ModelIOError.malformedConfig(path: jsonURL.path, reason: "\(error)")
        }
        let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("adapters.safetensors"))
        let binder = WeightBinder(file: file)
        let s = document.settings
        var layers: [[String: any Adapter]] = []
        for (index, layer) in decoder.layers.enumerated() {
            var adapters: [String: any Adapter] = [:]
            for projection in s.targets {
                guard let linear = layer[projection: projection] else { continue }
                let prefix = "layers.\(index).\(projection)."
                let (inF, outF) = (linear.inFeatures, linear.outFeatures)
                let scale = s.alpha / Float(s.rank)
                switch s.kind {
                case .lora:
                    adapters[projection] = LoRAAdapter(a: try binder.take(prefix + "lora_A", shape: [s.rank, inF]),
                                                       b: try binder.take(prefix + "lora_B", shape: [outF, s.rank]), scale: scale)
                case .moeLora:
                    adapters[projection] = MoELoRAAdapter(a: try binder.take(prefix + "lora_A", shape: [s.rank, inF]),
                                                          b: try binder.take(prefix + "lora_B", shape: [outF, s.rank]),
                                                          router: try binder.take(prefix + "router", shape: [s.branches, inF]), scale: scale)
                case .branchLora:
                    let state = document.adapters["layers.\(index).\(projection)"] ?? AdapterState()
                    // A router covers the branches there were when its task was added.
                    let routers = try (0 ..< (state.routers ?? 0)).map { t in
                        let count = file.entries[prefix + "router.\(t + 1).bias"]?.shape.first ?? s.branches
                        return (try binder.take(prefix + "router.\(t + 1).weight", shape: [count, inF]),
                                try binder.take(prefix + "router.\(t + 1).bias", shape: [count]))
                    }
                    var gates: [Int: [Float]] = [:]
                    for (key, value) in state.recordedGates ?? [:] { if let task = Int(key) { gates[task] = value } }
                    var own: [Int: LoRAAdapter] = [:]
                    if s.ownRank > 0 {
                        for task in 1 ..< routers.count + 1 {
                            own[task] = LoRAAdapter(a: try binder.take(prefix + "own_A.\(task)", shape: [s.ownRank, inF]),
                                                    b: try binder.take(prefix + "own_B.\(task)", shape: [outF, s.ownRank]), scale: scale)
                        }
                    }
                    let adapter = BranchLoRAAdapter(
                        trunk: try binder.take(prefix + "trunk_A", shape: [s.rank, inF]),
                        branches: try (0 ..< (state.branches ?? s.branches)).map { try binder.take(prefix + "branch_B.\($0)", shape: [outF, s.rank]) },
                        scale: scale, topK: s.topK, routers: routers, recordedGates: gates,
                        frozenBranches: Set(state.frozenBranches ?? []), trunkFrozen: state.trunkFrozen ?? false,
                        ownRank: s.ownRank, own: own)
                    // Half precision where the projection it adapts is.
                    var half: HalfMatrix.Format?
                    if case let .half(matrix) = linear.matrix { half = matrix.format }
                    adapters[projection] = serving ? ServedBranchLoRA(adapter, half: half) ?? adapter : adapter
                }
            }
            layers.append(adapters)
        }
        var selector: TaskSelector?
        if document.selector {
            let imageKeys = try (0 ..< document.tasks.count).map { t -> Tensor in
                guard let key = file.entries["selector.image_key.\(t)"] else { throw ModelIOError.missingTensor(key: "selector.image_key.\(t)") }
                return try binder.take("selector.image_key.\(t)", shape: key.shape)
            }
            let textKeys = try (0 ..< document.tasks.count).map { t -> Tensor in
                guard let key = file.entries["selector.text_key.\(t)"] else { throw ModelIOError.missingTensor(key: "selector.text_key.\(t)") }
                return try binder.take("selector.text_key.\(t)", shape: key.shape)
            }
            let chosen = TaskSelector(imageDimension: imageKeys.first?.shape.last ?? 0, textDimension: textKeys.first?.shape.last ?? 0)
            chosen.restore(names: document.tasks, imageKeys: imageKeys, textKeys: textKeys)
            selector = chosen
        }
        try binder.finish()
        return Loaded(adapters: AdapterSet(settings: s, layers: layers), selector: selector, tasks: document.tasks)
    }

    /// A selector without adapters (prompt-tuning snapshots): `selector.safetensors` + `selector.json`.
    public static func saveSelector(_ selector: TaskSelector, tasks: [String], to directory: URL) throws {
        var tensors: [String: Tensor] = [:]
        for task in 0 ..< selector.taskCount {
            tensors["selector.image_key.\(task)"] = selector.imageKeys[task]
            tensors["selector.text_key.\(task)"] = selector.textKeys[task]
        }
        try SafeTensorsWriter.write(tensors, to: directory.appendingPathComponent("selector.safetensors"), metadata: ["format": "mneme"])
        try AtomicFile.write(JSONSerialization.data(withJSONObject: ["tasks": tasks], options: [.prettyPrinted, .sortedKeys]),
                             to: directory.appendingPathComponent("selector.json"))
    }

    public static func loadSelector(from directory: URL) throws -> (selector: TaskSelector, tasks: [String])? {
        let jsonURL = directory.appendingPathComponent("selector.json")
        guard FileManager.default.fileExists(atPath: jsonURL.path) else { return nil }
        guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: jsonURL)) as? [String: Any],
              let tasks = object["tasks"] as? [String] else {
            throw ModelIOError.malformedConfig(path: jsonURL.path, reason: "no tasks list")
        }
        let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("selector.safetensors"))
        let imageKeys = try tasks.indices.map { try file.tensor("selector.image_key.\($0)") }
        let textKeys = try tasks.indices.map { try file.tensor("selector.text_key.\($0)") }
        let selector = TaskSelector(imageDimension: imageKeys.first?.shape.last ?? 0, textDimension: textKeys.first?.shape.last ?? 0)
        selector.restore(names: tasks, imageKeys: imageKeys, textKeys: textKeys)
        return (selector, tasks)
    }
}
