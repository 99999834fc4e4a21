import Foundation

/// `vision_config` of a LLaVA checkpoint (transformers' `CLIPVisionConfig`).
public struct CLIPVisionConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var hiddenAct: String
    public var layerNormEps: Float

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numChannels = "num_channels", imageSize = "image_size"
        case patchSize = "patch_size", hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps", modelType = "model_type"
    }

    public init(hiddenSize: Int = 768, intermediateSize: Int = 3072, numHiddenLayers: Int = 12, numAttentionHeads: Int = 12,
                numChannels: Int = 3, imageSize: Int = 224, patchSize: Int = 32, hiddenAct: String = "quick_gelu",
                layerNormEps: Float = 1e-5) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numChannels = numChannels
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
    }

    /// LlavaConfig's vision defaults (CLIP ViT-L/14 at 336 px) when `vision_config` is absent.
    public static let llavaDefault = CLIPVisionConfig(hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24,
                                                      numAttentionHeads: 16, imageSize: 336, patchSize: 14)

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPVisionConfig()
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? d.numChannels
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? d.imageSize
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("clip_vision_model", forKey: .modelType)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numChannels, forKey: .numChannels)
        try c.encode(imageSize, forKey: .imageSize)
        try c.encode(patchSize, forKey: .patchSize)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(layerNormEps, forKey: .layerNormEps)
    }

    public var patchesPerSide: Int { imageSize / patchSize }
    public var patchCount: Int { patchesPerSide * patchesPerSide }
    public var headDim: Int { hiddenSize / numAttentionHeads }
}

/// `text_config` of a LLaVA checkpoint (transformers' `LlamaConfig`).
public struct LlamaConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var hiddenAct: String
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    /// A non-default `rope_type` when the config names one (then unsupported: validation rejects it).
    public var ropeType: String?
    public var attentionBias: Bool
    public var mlpBias: Bool
    public var tieWordEmbeddings: Bool
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var padTokenId: Int?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads", headDim = "head_dim", hiddenAct = "hidden_act"
        case maxPositionEmbeddings = "max_position_embeddings", rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta"
        case ropeParameters = "rope_parameters", ropeScaling = "rope_scaling", attentionBias = "attention_bias"
        case mlpBias = "mlp_bias", tieWordEmbeddings = "tie_word_embeddings", bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id", padTokenId = "pad_token_id", modelType = "model_type"
    }

    struct RopeParameters: Codable {
        var rope_theta: Float?
        var rope_type: String?
        var type: String?
    }

    public init(vocabSize: Int = 32000, hiddenSize: Int = 4096, intermediateSize: Int = 11008, numHiddenLayers: Int = 32,
                numAttentionHeads: Int = 32, numKeyValueHeads: Int? = nil, headDim: Int? = nil, hiddenAct: String = "silu",
                maxPositionEmbeddings: Int = 2048, rmsNormEps: Float = 1e-6, ropeTheta: Float = 10000,
                attentionBias: Bool = false, mlpBias: Bool = false, tieWordEmbeddings: Bool = false,
                bosTokenId: Int? = 1, eosTokenIds: [Int] = [2], padTokenId: Int? = nil) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.headDim = headDim ?? hiddenSize / numAttentionHeads
        self.hiddenAct = hiddenAct
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeType = nil
        self.attentionBias = attentionBias
        self.mlpBias = mlpBias
        self.tieWordEmbeddings = tieWordEmbeddings
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
        self.padTokenId = padTokenId
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let hidden = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 4096
        let heads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 32
        self.init(
            vocabSize: try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 32000,
            hiddenSize: hidden,
            intermediateSize: try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 11008,
            numHiddenLayers: try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 32,
            numAttentionHeads: heads,
            numKeyValueHeads: try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads),
            headDim: try c.decodeIfPresent(Int.self, forKey: .headDim),
            hiddenAct: try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu",
            maxPositionEmbeddings: try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048,
            rmsNormEps: try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6,
            attentionBias: try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false,
            mlpBias: try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false,
            tieWordEmbeddings: try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false,
            bosTokenId: try c.decodeIfPresent(Int.self, forKey: .bosTokenId),
            eosTokenIds: [],
            padTokenId: try c.decodeIfPresent(Int.self, forKey: .padTokenId))
        if let list = try? c.decodeIfPresent([Int].self, forKey: .eosTokenId) {
            eosTokenIds = list
        } else if let single = try c.decodeIfPresent(Int.self, forKey: .eosTokenId) {
            eosTokenIds = [single]
        }
        // Newer transformers write rope_parameters; older ones rope_theta (+ rope_scaling).
        let parameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        let scaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        ropeTheta = try parameters?.rope_theta ?? c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? 10000
        let type = parameters?.rope_type ?? parameters?.type ?? scaling?.rope_type ?? scaling?.type
        ropeType = type == "default" ? nil : type
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("llama", forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(RopeParameters(rope_theta: ropeTheta, rope_type: ropeType ?? "default"), forKey: .ropeParameters)
        try c.encode(attentionBias, forKey: .attentionBias)
        try c.encode(mlpBias, forKey: .mlpBias)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        if eosTokenIds.count == 1 { try c.encode(eosTokenIds[0], forKey: .eosTokenId) } else if !eosTokenIds.isEmpty {
            try c.encode(eosTokenIds, forKey: .eosTokenId)
        }
        try c.encodeIfPresent(padTokenId, forKey: .padTokenId)
    }

    public var kvDim: Int { numKeyValueHeads * headDim }
    public var qDim: Int { numAttentionHeads * headDim }
}
