import Foundation
import ModelIO
import Tensor

extension LlavaModel {
    /// Every weight under the key layout transformers 5 writes (`model.vision_tower.vision_model.…`,
    /// `model.multi_modal_projector.…`, `model.language_model.…`, `lm_head`), the LM head omitted when tied.
    func exportTensors() -> [String: Tensor] {
        var tensors = visionTowerTensors()
        tensors.merge(projector.linear1.tensors(prefix: "model.multi_modal_projector.linear_1")) { $1 }
        tensors.merge(projector.linear2.tensors(prefix: "model.multi_modal_projector.linear_2")) { $1 }
        let language = "model.language_model."
        tensors[language + "embed_tokens.weight"] = text.embedTokens
        tensors[language + "norm.weight"] = text.norm
        for (i, layer) in text.layers.enumerated() {
            let p = language + "layers.\(i)."
            tensors[p + "input_layernorm.weight"] = layer.inputNorm
            tensors[p + "post_attention_layernorm.weight"] = layer.postAttentionNorm
            for name in Llama.DecoderLayer.projectionNames {
                let group = ["gate_proj", "up_proj", "down_proj"].contains(name) ? "mlp." : "self_attn."
                tensors.merge(layer[projection: name]!.tensors(prefix: p + group + name)) { $1 }
            }
        }
        if !config.tieWordEmbeddings { tensors["lm_head.weight"] = text.lmHead }
        return tensors
    }

    /// The vision tower's weights alone, under the same keys (what pretraining's tower phase trains).
    func visionTowerTensors() -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        let v = config.visionConfig
        let vision = "model.vision_tower.vision_model."
        tensors[vision + "embeddings.patch_embedding.weight"] =
            self.vision.patchEmbedding.reshaped([v.hiddenSize, v.numChannels, v.patchSize, v.patchSize])
        tensors[vision + "embeddings.class_embedding"] = self.vision.classEmbedding
        tensors[vision + "embeddings.position_embedding.weight"] = self.vision.positionEmbedding
        tensors.merge(self.vision.preLayerNorm.tensors(prefix: vision + "pre_layrnorm")) { $1 }
        if let post = self.vision.postLayerNorm { tensors.merge(post.tensors(prefix: vision + "post_layernorm")) { $1 } }
        for (i, layer) in self.vision.layers.enumerated() {
            let p = vision + "encoder.layers.\(i)."
            tensors.merge(layer.layerNorm1.tensors(prefix: p + "layer_norm1")) { $1 }
            tensors.merge(layer.query.tensors(prefix: p + "self_attn.q_proj")) { $1 }
            tensors.merge(layer.key.tensors(prefix: p + "self_attn.k_proj")) { $1 }
            tensors.merge(layer.value.tensors(prefix: p + "self_attn.v_proj")) { $1 }
            tensors.merge(layer.output.tensors(prefix: p + "self_attn.out_proj")) { $1 }
            tensors.merge(layer.layerNorm2.tensors(prefix: p + "layer_norm2")) { $1 }
            tensors.merge(layer.fc1.tensors(prefix: p + "mlp.fc1")) { $1 }
            tensors.merge(layer.fc2.tensors(prefix: p + "mlp.fc2")) { $1 }
        }
        return tensors
    }

    /// Writes config.json and model.safetensors (atomically) into `directory`.
    public func save(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(config), to: directory.appendingPathComponent("config.json"))
        try SafeTensorsWriter.write(exportTensors(), to: directory.appendingPathComponent("model.safetensors"),
                                    metadata: ["format": "pt"])
    }
}
