import Foundation
import ModelIO
import Tensor

/// A pool of soft prompts with keys (prompt tuning as in L2P / Fwd-Prompt): each query picks the `topK` prompts
/// whose keys are most similar (cosine) to its frozen-model features, and their rows are inserted after the
/// first token of the prompt. The base model's weights never change.
public final class PromptPool: @unchecked Sendable {
    /// Each (length, hidden).
    public let prompts: [Tensor]
    /// Each (feature dimension): image feature and text feature concatenated.
    public let keys: [Tensor]
    public let topK: Int

    public init(prompts: [Tensor], keys: [Tensor], topK: Int) {
        self.prompts = prompts
        self.keys = keys
        self.topK = topK
    }

    /// Prompts start as small copies of random vocabulary embeddings (inside the space the model knows);
    /// keys start random.
    public convenience init(size: Int, length: Int, topK: Int, embeddings table: Tensor, featureDimension: Int, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let hidden = table.columns
        let prompts = (0 ..< size).map { _ -> Tensor in
            let prompt = Tensor(zeros: [length, hidden])
            for row in 0 ..< length {
                let token = Int(generator.next() % UInt64(table.rows))
                (prompt.data + row * hidden).update(from: table.data + token * hidden, count: hidden)
            }
            return prompt
        }
        let keys = (0 ..< size).map { index in Tensor.uniform([featureDimension], bound: 1, seed: seed &+ 1000 &+ UInt64(index)) }
        self.init(prompts: prompts, keys: keys, topK: min(topK, size))
    }

    public var length: Int { prompts.first?.rows ?? 0 }
    /// Soft-prompt rows a query gets.
    var rowsPerQuery: Int { topK * length }

    /// Indices of the `topK` prompts whose keys best match `features`, best first.
    public func select(_ features: [Float]) -> [Int] {
        let scores = keys.map { key in
            features.withUnsafeBufferPointer { TaskSelector.cosine($0.baseAddress!, key.data, count: min(features.count, key.count)).cos }
        }
        return Array(scores.indices.sorted { (scores[$0], -$0) > (scores[$1], -$1) }.prefix(topK))
    }

    /// The selected prompts' rows, stacked (topK·length, hidden).
    public func softPrompt(_ indices: [Int]) -> Tensor {
        let hidden = prompts[0].columns
        let out = Tensor(zeros: [indices.count * length, hidden])
        for (slot, index) in indices.enumerated() { out.slice(slot * length ..< (slot + 1) * length).copy(from: prompts[index]) }
        return out
    }

    /// Query features: the selector's image and text features concatenated.
    public static func features(image: [Float], text: [Float]) -> [Float] { image + text }

    /// Prompt ids with `rowsPerQuery` soft-prompt positions after the first token.
    public func insertPlaceholders(into ids: [Int]) -> [Int] {
        guard let first = ids.first else { return ids }
        return [first] + Array(repeating: TrainingExample.softPromptId, count: rowsPerQuery) + ids.dropFirst()
    }

    public func copy() -> PromptPool { PromptPool(prompts: prompts.map { $0.copy() }, keys: keys.map { $0.copy() }, topK: topK) }

    public func save(to directory: URL) throws {
        var tensors: [String: Tensor] = [:]
        for (i, prompt) in prompts.enumerated() { tensors["prompt.\(i)"] = prompt }
        for (i, key) in keys.enumerated() { tensors["key.\(i)"] = key }
        try SafeTensorsWriter.write(tensors, to: directory.appendingPathComponent("prompt_pool.safetensors"),
                                    metadata: ["top_k": String(topK), "size": String(prompts.count)])
    }

    public static func load(from directory: URL) throws -> PromptPool? {
        let url = directory.appendingPathComponent("prompt_pool.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let file = try SafeTensorsFile(contentsOf: url)
        guard let size = file.metadata["size"].flatMap(Int.init), let topK = file.metadata["top_k"].flatMap(Int.init) else {
            throw ModelIOError.malformedHeader(path: url.path, reason: "prompt pool metadata lacks size or top_k")
        }
        return PromptPool(prompts: try (0 ..< size).map { try file.tensor("prompt.\($0)") },
                          keys: try (0 ..< size).map { try file.tensor("key.\($0)") }, topK: topK)
    }
}
