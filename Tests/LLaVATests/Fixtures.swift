import Foundation
import LLaVA
import ModelIO
import Tensor

/// Paths and readers for the reference fixtures written by scripts/fixtures_models.py.
enum ModelFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    static var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    static func directory(_ name: String) -> URL { root.appendingPathComponent(name) }

    struct Reference: Decodable {
        struct Candidate: Decodable { let token_id: Int; let logprob: Float }
        let question: String
        let prompt_ids: [Int]
        let greedy_tokens: [Int]
        let stopped_at_eos: Bool
        let top_logprobs: [[Candidate]]
        let answer: String
    }

    static func reference(_ name: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: directory(name).appendingPathComponent("reference.json")))
    }

    static func tensors(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(contentsOf: directory(name).appendingPathComponent("reference.safetensors"))
    }

    /// max |a − b| / max |b|, the comparison the correctness contract uses.
    static func relativeError(_ a: Tensor, _ b: Tensor) -> (error: Float, maxDiff: Float, scale: Float) {
        precondition(a.count == b.count, "comparing \(a.shape) with \(b.shape)")
        var maxDiff: Float = 0, scale: Float = 0
        for i in 0 ..< a.count {
            maxDiff = max(maxDiff, abs(a.data[i] - b.data[i]))
            scale = max(scale, abs(b.data[i]))
        }
        return (maxDiff / max(scale, 1e-12), maxDiff, scale)
    }

    /// The logits (prompt length, vocabulary) at every position of fixture `name`'s prompt, with its image, through `model`.
    static func promptLogits(_ model: LlavaModel, fixture name: String) throws -> Tensor {
        let prompt = try reference(name).prompt_ids
        let features = try model.imageFeatures(pixels: tensors(name).tensor("pixel_values"))
        let embeddings = try model.embed(ids: prompt, imageFeatures: features)
        let hidden = model.decode(embeddings: embeddings, segments: [.init(cache: model.makeCache(capacity: prompt.count), rows: 0 ..< prompt.count)])
        return model.logits(hidden: hidden)
    }

    /// How many rows of `a` and `b` have their largest value at the same column.
    static func topOneAgreements(_ a: Tensor, _ b: Tensor) -> Int {
        func argmax(_ t: Tensor, _ row: Int) -> Int { (0 ..< t.columns).max { t.data[row * t.columns + $0] < t.data[row * t.columns + $1] }! }
        return (0 ..< a.rows).filter { argmax(a, $0) == argmax(b, $0) }.count
    }
}
