import Foundation
import Tensor

/// The tensors of a model directory: `model.safetensors`, or shards listed in `model.safetensors.index.json`.
public struct Checkpoint: Sendable {
    public private(set) var tensors: [String: Tensor]

    public init(tensors: [String: Tensor]) { self.tensors = tensors }

    public init(directory: URL) throws {
        let fileManager = FileManager.default
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        var files: [URL] = []
        if fileManager.fileExists(atPath: index.path) {
            struct Index: Decodable { let weight_map: [String: String] }
            let decoded: Index
            do {
                decoded = try JSONDecoder().decode(Index.self, from: Data(contentsOf: index))
            } catch {
                throw ModelIOError.malformedConfig(path: index.path, reason: "\(error)")
            }
            files = Set(decoded.weight_map.values).sorted().map { directory.appendingPathComponent($0) }
        } else {
            let single = directory.appendingPathComponent("model.safetensors")
            guard fileManager.fileExists(atPath: single.path) else {
                throw ModelIOError.cannotOpen(path: single.path, reason: "neither model.safetensors nor model.safetensors.index.json exists")
            }
            files = [single]
        }
        var tensors: [String: Tensor] = [:]
        for url in files {
            let file = try SafeTensorsFile(contentsOf: url)
            for key in file.keys { tensors[key] = try file.tensor(key) }
        }
        self.tensors = tensors
    }

    /// Renames keys by the first matching prefix rule; keys no rule matches stay as they are.
    public mutating func renamePrefixes(_ rules: [(from: String, to: String)]) {
        var renamed: [String: Tensor] = [:]
        for (key, value) in tensors {
            var newKey = key
            for rule in rules where key.hasPrefix(rule.from) {
                newKey = rule.to + key.dropFirst(rule.from.count)
                break
            }
            renamed[newKey] = value
        }
        tensors = renamed
    }
}

/// Strict binding: every tensor the model asks for must exist with the expected shape, and every
/// tensor in the checkpoint must be asked for (or explicitly ignored).
public final class WeightBinder {
    private let tensors: [String: Tensor]
    private var used: Set<String> = []

    public init(_ checkpoint: Checkpoint) { tensors = checkpoint.tensors }

    public func take(_ key: String, shape: [Int]) throws -> Tensor {
        guard let tensor = tensors[key] else { throw ModelIOError.missingTensor(key: key) }
        guard tensor.shape == shape else { throw ModelIOError.shapeMismatch(key: key, expected: shape, got: tensor.shape) }
        used.insert(key)
        return tensor
    }

    public func takeIfPresent(_ key: String, shape: [Int]) throws -> Tensor? {
        tensors[key] == nil ? nil : try take(key, shape: shape)
    }

    public func has(_ key: String) -> Bool { tensors[key] != nil }

    /// Marks keys as known but unused by this model (e.g. CLIP's post-layernorm, which LLaVA never reads).
    public func ignore(where predicate: (String) -> Bool) {
        for key in tensors.keys where predicate(key) { used.insert(key) }
    }

    public func finish() throws {
        let unused = tensors.keys.filter { !used.contains($0) }.sorted()
        if !unused.isEmpty { throw ModelIOError.unusedTensors(keys: unused) }
    }
}
