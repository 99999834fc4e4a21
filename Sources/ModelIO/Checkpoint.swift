import Foundation
import Tensor

/// The tensors of a model directory: `model.safetensors`, or shards listed in `model.safetensors.index.json`.
public struct Checkpoint: Sendable {
    public private(set) var tensors: [String: Tensor]
    /// Matrices kept in half precision, in place in their files (`keepHalf`); not also in `tensors`.
    public private(set) var halves: [String: HalfMatrix] = [:]
    /// Linear layers' matrices are quantized to 8 bits as they are bound (`WeightBinder.takeMatrix`).
    public var quantizeMatrices = false

    public init(tensors: [String: Tensor]) { self.tensors = tensors }

    /// Reads every tensor of the directory. With `keepHalf`, 2-D bf16 and f16 tensors stay as they are in the
    /// file (`halves`); everything else is widened to float32, each file's pages let go as it is read, so
    /// loading never holds the file and its widened copy at once.
    public init(directory: URL, keepHalf: Bool = false) throws {
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
        var halves: [String: HalfMatrix] = [:]
        for url in files {
            let file = try SafeTensorsFile(contentsOf: url)
            for key in file.keys {
                if keepHalf, let half = try file.half(key) {
                    halves[key] = half
                } else {
                    tensors[key] = try file.tensor(key)
                    file.release(key)
                }
            }
        }
        self.tensors = tensors
        self.halves = halves
    }

    /// Renames keys by the first matching prefix rule; keys no rule matches stay as they are.
    public mutating func renamePrefixes(_ rules: [(from: String, to: String)]) {
        func renamed<Value>(_ values: [String: Value]) -> [String: Value] {
            var result: [String: Value] = [:]
            for (key, value) in values {
                var newKey = key
                for rule in rules where key.hasPrefix(rule.from) {
                    newKey = rule.to + key.dropFirst(rule.from.count)
                    break
                }
                result[newKey] = value
            }
            return result
        }
        tensors = renamed(tensors)
        halves = renamed(halves)
    }
}

/// Strict binding: every tensor the model asks for must exist with the expected shape, and every
/// tensor in the checkpoint must be asked for (or explicitly ignored).
public final class WeightBinder {
    private let tensors: [String: Tensor]
    private let halves: [String: HalfMatrix]
    /// Read on demand, one tensor at a time (its mapped pages dropped once read), when binding from one file.
    private let file: SafeTensorsFile?
    private let quantize: Bool
    private var used: Set<String> = []

    public init(_ checkpoint: Checkpoint) {
        tensors = checkpoint.tensors
        halves = checkpoint.halves
        quantize = checkpoint.quantizeMatrices
        file = nil
    }

    /// Binds the tensors of one file, reading each in float32 only when it is taken: loading holds no more than
    /// what the caller keeps (a caller that condenses what it reads never holds the whole file at once).
    public init(file: SafeTensorsFile) {
        tensors = [:]
        halves = [:]
        quantize = false
        self.file = file
    }

    private var keys: [String] { Array(tensors.keys) + Array(halves.keys) + (file?.keys ?? []) }

    /// The tensor in float32 (a half-precision one is widened: only linear layers' matrices stay half).
    public func take(_ key: String, shape: [Int]) throws -> Tensor {
        if let half = halves[key] {
            guard half.shape == shape else { throw ModelIOError.shapeMismatch(key: key, expected: shape, got: half.shape) }
            used.insert(key)
            defer { half.releasePages() }
            return half.widened()
        }
        if let file, let entry = file.entries[key] {
            guard entry.shape == shape else { throw ModelIOError.shapeMismatch(key: key, expected: shape, got: entry.shape) }
            used.insert(key)
            defer { file.release(key) }
            return try file.tensor(key)
        }
        guard let tensor = tensors[key] else { throw ModelIOError.missingTensor(key: key) }
        guard tensor.shape == shape else { throw ModelIOError.shapeMismatch(key: key, expected: shape, got: tensor.shape) }
        used.insert(key)
        return tensor
    }

    /// A linear layer's matrix: in half precision when the checkpoint was read with `keepHalf` and stores it so;
    /// in 8 bits when the checkpoint says `quantizeMatrices` (a half source's pages let go once quantized).
    public func takeMatrix(_ key: String, shape: [Int]) throws -> WeightMatrix {
        if let half = halves[key] {
            guard half.shape == shape else { throw ModelIOError.shapeMismatch(key: key, expected: shape, got: half.shape) }
            used.insert(key)
            guard quantize else { return .half(half) }
            defer { half.releasePages() }
            return .int8(Int8Matrix(quantizing: half))
        }
        let tensor = try take(key, shape: shape)
        return quantize ? .int8(Int8Matrix(quantizing: tensor)) : .full(tensor)
    }

    public func takeIfPresent(_ key: String, shape: [Int]) throws -> Tensor? {
        has(key) ? try take(key, shape: shape) : nil
    }

    public func has(_ key: String) -> Bool { tensors[key] != nil || halves[key] != nil || file?.entries[key] != nil }

    /// Marks keys as known but unused by this model (e.g. CLIP's post-layernorm, which LLaVA never reads).
    public func ignore(where predicate: (String) -> Bool) {
        for key in keys where predicate(key) { used.insert(key) }
    }

    public func finish() throws {
        let unused = keys.filter { !used.contains($0) }.sorted()
        if !unused.isEmpty { throw ModelIOError.unusedTensors(keys: unused) }
    }
}
