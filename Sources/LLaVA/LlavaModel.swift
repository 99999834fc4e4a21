import Foundation
import Synchronization
import ModelIO
import Tensor

/// Errors of the model itself (as opposed to its files).
public enum LlavaError: Error, CustomStringConvertible {
    case imageTokenCount(expected: Int, found: Int)
    case tokenOutOfVocabulary(id: Int, vocabulary: Int)
    case promptTooLong(tokens: Int, limit: Int)
    case pixelShape(expected: [Int], got: [Int])
    case missingImageToken(String)
    /// A soft prompt's rows do not match the prompt positions reserved for it.
    case softPromptMismatch(positions: Int, rows: Int)

    public var description: String {
        switch self {
        case let .imageTokenCount(expected, found):
            return "the prompt holds \(found) image tokens, the image gives \(expected) features"
        case let .tokenOutOfVocabulary(id, vocabulary): return "token id \(id) is outside the vocabulary of \(vocabulary)"
        case let .promptTooLong(tokens, limit): return "the prompt needs \(tokens) positions, the model allows \(limit)"
        case let .pixelShape(expected, got): return "pixel tensor has shape \(got), the vision tower expects \(expected)"
        case let .missingImageToken(detail): return "no image token: \(detail)"
        case let .softPromptMismatch(positions, rows): return "\(positions) soft-prompt positions for \(rows) soft-prompt rows"
        }
    }
}

/// A LLaVA model: CLIP vision tower, projector and Llama decoder, with weights in float32.
public struct LlavaModel: Sendable {
    public let config: LlavaConfig
    public var vision: CLIP.VisionWeights
    public var projector: Projector.Weights
    public var text: Llama.Weights
    public let rope: RotaryEmbedding
    /// Unmerged adapters applied on top of `text` for `task` (nil when the weights are merged or plain).
    public var adapters: AdapterSet?
    public var task = 0

    public init(config: LlavaConfig, vision: CLIP.VisionWeights, projector: Projector.Weights, text: Llama.Weights) {
        self.config = config
        self.vision = vision
        self.projector = projector
        self.text = text
        let textConfig = config.textConfig
        rope = RotaryEmbedding(headDim: textConfig.headDim, theta: textConfig.ropeTheta,
                               maxPositions: max(textConfig.maxPositionEmbeddings, 1))
    }

    /// Loads `config.json` and the safetensors weights of a model directory; linear layers of a bf16/f16
    /// checkpoint stay half precision when the process chose so (`WeightPrecision.keepHalf`).
    public static func load(from directory: URL) throws -> LlavaModel {
        let config = try LlavaConfig.load(from: directory)
        var checkpoint = try Checkpoint(directory: directory, keepHalf: WeightPrecision.keepHalf || WeightPrecision.int8)
        checkpoint.quantizeMatrices = WeightPrecision.int8
        return try LlavaModel(config: config, checkpoint: checkpoint)
    }

    /// Read → sanitize → bind strictly.
    public init(config: LlavaConfig, checkpoint: Checkpoint) throws {
        var checkpoint = checkpoint
        checkpoint.renamePrefixes(Self.keyLayouts)
        let binder = WeightBinder(checkpoint)
        let vision = try CLIP.bind(binder, prefix: "vision.", config: config.visionConfig)
        // LLaVA reads hidden states, never CLIP's pooled output; text-tower or projection keys would be a wrong checkpoint.
        let projector = try Projector.bind(binder, prefix: "projector.", config: config)
        let text = try Llama.bind(binder, prefix: "text.", lmHeadKey: "lm_head.weight", config: config.textConfig,
                                  tied: config.tieWordEmbeddings)
        // Non-persistent buffers some older writers saved.
        binder.ignore { $0.hasSuffix("position_ids") || $0.hasSuffix("rotary_emb.inv_freq") }
        try binder.finish()
        self.init(config: config, vision: vision, projector: projector, text: text)
    }

    /// Prefix renames from every layout transformers versions write to one canonical layout.
    static let keyLayouts: [(from: String, to: String)] = [
        ("model.vision_tower.vision_model.", "vision."),
        ("vision_tower.vision_model.", "vision."),
        ("model.vision_tower.", "vision."),
        ("vision_tower.", "vision."),
        ("model.multi_modal_projector.", "projector."),
        ("multi_modal_projector.", "projector."),
        ("language_model.model.", "text."),
        ("model.language_model.", "text."),
        ("language_model.lm_head.", "lm_head."),
        ("language_model.", "text."),
    ]

    /// Image features (n, text hidden) of one preprocessed image (C, H, W): the selected vision hidden states,
    /// without the class token under the `default` strategy, through the projector.
    public func imageFeatures(pixels: Tensor) throws -> Tensor { try imageFeatures(batch: [pixels])[0] }

    /// Image features of several preprocessed images in one pass through the tower and projector: each linear
    /// layer multiplies every image's tokens at once (inference only; training has `CLIPTraining`).
    public func imageFeatures(batch pixels: [Tensor]) throws -> [Tensor] {
        let v = config.visionConfig
        let expected = [v.numChannels, v.imageSize, v.imageSize]
        for image in pixels where image.shape != expected && image.shape != [1] + expected {
            throw LlavaError.pixelShape(expected: expected, got: image.shape)
        }
        guard !pixels.isEmpty else { return [] }
        let indices = config.featureHiddenStateIndices
        let states = CLIP.hiddenStates(weights: vision, config: v, pixels: pixels, indices: indices)
        let first = config.keepsClassToken ? 0 : 1
        let tokens = v.patchCount + 1, kept = tokens - first
        let selected = Tensor(zeros: [pixels.count * kept, v.hiddenSize * indices.count])
        for (slot, index) in indices.enumerated() {
            let state = states[index]!
            for image in 0 ..< pixels.count {
                for row in 0 ..< kept {
                    (selected.data + (image * kept + row) * selected.columns + slot * v.hiddenSize)
                        .update(from: state.data + (image * tokens + row + first) * v.hiddenSize, count: v.hiddenSize)
                }
            }
        }
        let activation = Activation(name: config.projectorHiddenAct) ?? .gelu
        let features = Projector.forward(weights: projector, activation: activation, features: selected)
        return (0 ..< pixels.count).map { features.slice($0 * kept ..< ($0 + 1) * kept) }
    }

    /// Prompt embeddings (T, hidden) with the image features spliced in at the image-token positions and
    /// soft-prompt rows at the `TrainingExample.softPromptId` positions.
    public func embed(ids: [Int], imageFeatures: Tensor?, softPrompt: Tensor? = nil) throws -> Tensor {
        let vocabulary = config.textConfig.vocabSize
        if let bad = ids.first(where: { ($0 < 0 && $0 != TrainingExample.softPromptId) || $0 >= vocabulary }) {
            throw LlavaError.tokenOutOfVocabulary(id: bad, vocabulary: vocabulary)
        }
        let hidden = config.textConfig.hiddenSize
        let out = Tensor(zeros: [ids.count, hidden])
        Embedding.forward(out: out, table: text.embedTokens, ids: ids.map { $0 == TrainingExample.softPromptId ? 0 : $0 })
        let softPositions = ids.indices.filter { ids[$0] == TrainingExample.softPromptId }
        guard softPositions.count == (softPrompt?.rows ?? 0) else {
            throw LlavaError.softPromptMismatch(positions: softPositions.count, rows: softPrompt?.rows ?? 0)
        }
        for (row, position) in softPositions.enumerated() {
            (out.data + position * hidden).update(from: softPrompt!.data + row * hidden, count: hidden)
        }
        let imagePositions = ids.indices.filter { ids[$0] == config.imageTokenIndex }
        let featureCount = imageFeatures?.rows ?? 0
        guard imagePositions.count == featureCount else {
            throw LlavaError.imageTokenCount(expected: featureCount, found: imagePositions.count)
        }
        if let imageFeatures {
            for (row, position) in imagePositions.enumerated() {
                (out.data + position * hidden).update(from: imageFeatures.data + row * hidden, count: hidden)
            }
        }
        return out
    }

    /// A fresh KV cache for one sequence of up to `capacity` positions.
    public func makeCache(capacity: Int) -> KVCache {
        KVCache(config: config.textConfig, capacity: min(capacity, rope.maxPositions))
    }

    /// The decoder on one or more segments; see `Llama.forward`.
    public func decode(embeddings: Tensor, segments: [Llama.Segment]) -> Tensor {
        Llama.forward(weights: text, config: config.textConfig, rope: rope, input: embeddings, segments: segments,
                      adapters: adapters, task: task)
    }

    public func logits(hidden: Tensor) -> Tensor { Llama.logits(weights: text, hidden: hidden) }
}

/// How a half-precision checkpoint is held in memory, chosen once per process at start-up like the BLAS kernel
/// (`mneme serve --weights`): its linear layers' matrices stay half precision (`LinearWeights.matrix`, products
/// through `HalfLinear`), or every tensor is widened to float32 (the default for the library, training and
/// the tests: float32 results exactly). Float32 checkpoints load as float32 either way.
public enum WeightPrecision {
    private static let keep = Atomic<Bool>(false)
    private static let quantize = Atomic<Bool>(false)

    public static var keepHalf: Bool {
        get { keep.load(ordering: .relaxed) }
        set { keep.store(newValue, ordering: .relaxed) }
    }

    /// Every linear layer's matrix quantized to 8 bits at load, one scale per output channel (`--weights int8`),
    /// whatever the checkpoint's precision; products through `Int8Linear`.
    public static var int8: Bool {
        get { quantize.load(ordering: .relaxed) }
        set { quantize.store(newValue, ordering: .relaxed) }
    }
}
