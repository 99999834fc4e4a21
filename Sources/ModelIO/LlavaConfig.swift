import Foundation
import Tensor

/// `config.json` of a `LlavaForConditionalGeneration` checkpoint, with transformers' defaults for absent fields.
public struct LlavaConfig: Codable, Sendable, Equatable {
    public var visionConfig: CLIPVisionConfig
    public var textConfig: LlamaConfig
    public var imageTokenIndex: Int
    public var projectorHiddenAct: String
    public var visionFeatureSelectStrategy: String
    /// One layer, or several whose features are concatenated.
    public var visionFeatureLayers: [Int]
    public var multimodalProjectorBias: Bool
    public var tieWordEmbeddings: Bool

    enum CodingKeys: String, CodingKey {
        case visionConfig = "vision_config", textConfig = "text_config", imageTokenIndex = "image_token_index"
        case imageTokenId = "image_token_id"
        case projectorHiddenAct = "projector_hidden_act", visionFeatureSelectStrategy = "vision_feature_select_strategy"
        case visionFeatureLayer = "vision_feature_layer", multimodalProjectorBias = "multimodal_projector_bias"
        case tieWordEmbeddings = "tie_word_embeddings", modelType = "model_type", architectures
    }

    public init(visionConfig: CLIPVisionConfig, textConfig: LlamaConfig, imageTokenIndex: Int,
                projectorHiddenAct: String = "gelu", visionFeatureSelectStrategy: String = "default",
                visionFeatureLayers: [Int] = [-2], multimodalProjectorBias: Bool = true) {
        self.visionConfig = visionConfig
        self.textConfig = textConfig
        self.imageTokenIndex = imageTokenIndex
        self.projectorHiddenAct = projectorHiddenAct
        self.visionFeatureSelectStrategy = visionFeatureSelectStrategy
        self.visionFeatureLayers = visionFeatureLayers
        self.multimodalProjectorBias = multimodalProjectorBias
        self.tieWordEmbeddings = textConfig.tieWordEmbeddings
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        visionConfig = try c.decodeIfPresent(CLIPVisionConfig.self, forKey: .visionConfig) ?? .llavaDefault
        textConfig = try c.decodeIfPresent(LlamaConfig.self, forKey: .textConfig) ?? LlamaConfig()
        imageTokenIndex = try c.decodeIfPresent(Int.self, forKey: .imageTokenIndex)
            ?? c.decodeIfPresent(Int.self, forKey: .imageTokenId) ?? 32000
        projectorHiddenAct = try c.decodeIfPresent(String.self, forKey: .projectorHiddenAct) ?? "gelu"
        visionFeatureSelectStrategy = try c.decodeIfPresent(String.self, forKey: .visionFeatureSelectStrategy) ?? "default"
        if let layers = try? c.decodeIfPresent([Int].self, forKey: .visionFeatureLayer) {
            visionFeatureLayers = layers
        } else {
            visionFeatureLayers = [try c.decodeIfPresent(Int.self, forKey: .visionFeatureLayer) ?? -2]
        }
        multimodalProjectorBias = try c.decodeIfPresent(Bool.self, forKey: .multimodalProjectorBias) ?? true
        // As LlavaConfig.__post_init__: the text config's tying wins when the top level does not tie.
        let topTie = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        tieWordEmbeddings = topTie || textConfig.tieWordEmbeddings
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("llava", forKey: .modelType)
        try c.encode(["LlavaForConditionalGeneration"], forKey: .architectures)
        try c.encode(visionConfig, forKey: .visionConfig)
        try c.encode(textConfig, forKey: .textConfig)
        try c.encode(imageTokenIndex, forKey: .imageTokenIndex)
        try c.encode(projectorHiddenAct, forKey: .projectorHiddenAct)
        try c.encode(visionFeatureSelectStrategy, forKey: .visionFeatureSelectStrategy)
        if visionFeatureLayers.count == 1 {
            try c.encode(visionFeatureLayers[0], forKey: .visionFeatureLayer)
        } else {
            try c.encode(visionFeatureLayers, forKey: .visionFeatureLayer)
        }
        try c.encode(multimodalProjectorBias, forKey: .multimodalProjectorBias)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
    }

    /// Reads and validates `config.json` from a model directory.
    public static func load(from directory: URL) throws -> LlavaConfig {
        let url = directory.appendingPathComponent("config.json")
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelIOError.cannotOpen(path: url.path, reason: error.localizedDescription)
        }
        let config: LlavaConfig
        do { config = try JSONDecoder().decode(LlavaConfig.self, from: data) } catch {
            throw ModelIOError.malformedConfig(path: url.path, reason: "\(error)")
        }
        try config.validate(path: url.path)
        return config
    }

    public func validate(path: String = "config.json") throws {
        func fail(_ reason: String) -> ModelIOError { .malformedConfig(path: path, reason: reason) }
        guard ["default", "full"].contains(visionFeatureSelectStrategy) else {
            throw fail("vision_feature_select_strategy \(visionFeatureSelectStrategy) is not default or full")
        }
        let layers = visionConfig.numHiddenLayers
        for layer in visionFeatureLayers where layer < -(layers + 1) || layer > layers {
            throw fail("vision_feature_layer \(layer) is outside the \(layers)-layer vision tower")
        }
        guard visionConfig.imageSize % visionConfig.patchSize == 0 else { throw fail("image_size is not a multiple of patch_size") }
        guard visionConfig.hiddenSize % visionConfig.numAttentionHeads == 0 else { throw fail("vision hidden_size is not a multiple of the heads") }
        guard textConfig.numAttentionHeads % textConfig.numKeyValueHeads == 0 else {
            throw fail("num_attention_heads is not a multiple of num_key_value_heads")
        }
        guard textConfig.headDim % 2 == 0 else { throw fail("head_dim must be even for rotary embeddings") }
        if let type = textConfig.ropeType { throw fail("rope type \(type) is not supported (only default)") }
        for act in [visionConfig.hiddenAct, projectorHiddenAct, textConfig.hiddenAct] where Activation(name: act) == nil {
            throw fail("activation \(act) is not supported")
        }
        guard imageTokenIndex >= 0, imageTokenIndex < textConfig.vocabSize else {
            throw fail("image_token_index \(imageTokenIndex) is outside the vocabulary of \(textConfig.vocabSize)")
        }
    }

    /// Vision-tower hidden states (index into [embeddings, layer 1, …, layer L]) the projector reads.
    public var featureHiddenStateIndices: [Int] {
        visionFeatureLayers.map { $0 < 0 ? visionConfig.numHiddenLayers + 1 + $0 : $0 }
    }

    /// Vision layers that must run: up to the deepest feature layer.
    public var visionLayersNeeded: Int { featureHiddenStateIndices.max() ?? visionConfig.numHiddenLayers }

    public var keepsClassToken: Bool { visionFeatureSelectStrategy == "full" }

    /// Image features per image, which is how many `<image>` tokens a prompt expands to.
    public var imageFeatureCount: Int { visionConfig.patchCount + (keepsClassToken ? 1 : 0) }
}
