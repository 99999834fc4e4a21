import Foundation
import LLaVA
import ModelIO
import Tokenizer

/// The shape of the default model, and the files a model directory carries besides its weights.
public enum ModelRecipe {
    /// The reference configuration: CLIP 4 layers × 128 (intermediate 512, 64 px, patch 8) and
    /// Llama 4 layers × 256 (intermediate 688, 4 heads), about 4.6 M parameters with a 1024-token vocabulary.
    /// The projector reads `visionFeatureLayer` (LLaVA's −2 by default; −1 lets a tower trained from nothing use
    /// all its layers, where −2 leaves the last one untrained).
    public static func reference(tokenizer: TrainedTokenizer, imageToken: String = "<image>", visionFeatureLayer: Int = -2) -> LlavaConfig {
        let vision = CLIPVisionConfig(hiddenSize: 128, intermediateSize: 512, numHiddenLayers: 4, numAttentionHeads: 4,
                                      imageSize: 64, patchSize: 8, hiddenAct: "quick_gelu")
        let text = LlamaConfig(vocabSize: tokenizer.vocabularySize, hiddenSize: 256, intermediateSize: 688, numHiddenLayers: 4,
                               numAttentionHeads: 4, numKeyValueHeads: 4, maxPositionEmbeddings: 512, rmsNormEps: 1e-5,
                               tieWordEmbeddings: false, bosTokenId: tokenizer.bosTokenId,
                               eosTokenIds: tokenizer.eosTokenId.map { [$0] } ?? [], padTokenId: tokenizer.padTokenId)
        return LlavaConfig(visionConfig: vision, textConfig: text, imageTokenIndex: tokenizer.specialTokenId(imageToken)!,
                           projectorHiddenAct: "gelu", visionFeatureSelectStrategy: "default", visionFeatureLayers: [visionFeatureLayer])
    }

    /// `preprocessor_config.json` (CLIP's processor at the model's image size) and `mneme.json`.
    public static func writeSupportFiles(to directory: URL, imageSize: Int, settings: ModelSettings = ModelSettings()) throws {
        let preprocessor: [String: Any] = [
            "image_processor_type": "CLIPImageProcessor", "do_resize": true, "size": ["shortest_edge": imageSize],
            "resample": 3, "do_center_crop": true, "crop_size": ["height": imageSize, "width": imageSize],
            "do_rescale": true, "rescale_factor": 1.0 / 255, "do_normalize": true, "do_convert_rgb": true,
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        ]
        try AtomicFile.write(JSONSerialization.data(withJSONObject: preprocessor, options: [.prettyPrinted, .sortedKeys]),
                             to: directory.appendingPathComponent("preprocessor_config.json"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(settings), to: directory.appendingPathComponent("mneme.json"))
    }
}
