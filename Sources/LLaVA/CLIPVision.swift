import ModelIO
import Tensor

/// CLIP's vision transformer, as LLaVA uses it: it returns the hidden states of the feature layers.
public enum CLIP {
    public struct EncoderLayer: Sendable {
        var layerNorm1: LayerNormWeights
        public var query: LinearWeights
        public var key: LinearWeights
        public var value: LinearWeights
        public var output: LinearWeights
        var layerNorm2: LayerNormWeights
        public var fc1: LinearWeights
        public var fc2: LinearWeights
    }

    public struct VisionWeights: Sendable {
        /// Patch convolution as a matrix: (hidden, channels·patch·patch).
        public var patchEmbedding: Tensor
        var classEmbedding: Tensor  // (hidden)
        var positionEmbedding: Tensor  // (patches + 1, hidden)
        var preLayerNorm: LayerNormWeights
        public var layers: [EncoderLayer]
        /// Present in checkpoints, unused by LLaVA; kept so exports round-trip.
        var postLayerNorm: LayerNormWeights?
    }

    /// Unfolds a (C, H, W) image into (patches, C·P·P) rows ordered as the convolution weight is.
    public static func patches(of pixels: Tensor, config: CLIPVisionConfig) -> Tensor {
        let p = config.patchSize, side = config.patchesPerSide, channels = config.numChannels, size = config.imageSize
        let out = Tensor(zeros: [side * side, channels * p * p])
        for py in 0 ..< side {
            for px in 0 ..< side {
                let row = out.data + (py * side + px) * channels * p * p
                for c in 0 ..< channels {
                    for ky in 0 ..< p {
                        let source = pixels.data + c * size * size + (py * p + ky) * size + px * p
                        (row + (c * p + ky) * p).update(from: source, count: p)
                    }
                }
            }
        }
        return out
    }

    /// Runs the tower on preprocessed images (each C, H, W), stacked: every linear layer multiplies all of
    /// their tokens at once, attention stays within each image. Returns the requested hidden states (indices into
    /// [embeddings, layer 1, …, layer L]), each (images · (patches + 1), hidden), image after image.
    static func hiddenStates(weights: VisionWeights, config: CLIPVisionConfig, pixels: [Tensor], indices: [Int]) -> [Int: Tensor] {
        let hidden = config.hiddenSize, tokens = config.patchCount + 1
        let embeddings = Tensor(zeros: [pixels.count * tokens, hidden])
        for (image, pixels) in pixels.enumerated() {
            // Row 0 is the class embedding; rows 1… are the patch projections (a stride-P convolution without bias).
            let rows = embeddings.slice(image * tokens ..< (image + 1) * tokens)
            rows.data.update(from: weights.classEmbedding.data, count: hidden)
            Linear.forward(out: rows.slice(1 ..< tokens), input: patches(of: pixels, config: config),
                           weight: weights.patchEmbedding, bias: nil)
            Elementwise.add(rows, weights.positionEmbedding)
        }
        var x = Tensor(zeros: embeddings.shape)
        LayerNorm.forward(out: x, input: embeddings, weight: weights.preLayerNorm.weight, bias: weights.preLayerNorm.bias,
                          eps: config.layerNormEps)
        var states: [Int: Tensor] = [:]
        if indices.contains(0) { states[0] = x.copy() }
        let needed = indices.max() ?? 0
        for (index, layer) in weights.layers.prefix(needed).enumerated() {
            x = encoderLayer(layer, config: config, input: x, images: pixels.count)
            if indices.contains(index + 1) { states[index + 1] = x }
        }
        return states
    }

    static func encoderLayer(_ layer: EncoderLayer, config: CLIPVisionConfig, input x: Tensor, images: Int = 1) -> Tensor {
        let rows = x.rows, tokens = rows / images, hidden = config.hiddenSize, eps = config.layerNormEps
        let activation = Activation(name: config.hiddenAct) ?? .quickGelu
        let normed = Tensor(zeros: [rows, hidden])
        LayerNorm.forward(out: normed, input: x, weight: layer.layerNorm1.weight, bias: layer.layerNorm1.bias, eps: eps)
        let q = layer.query.forward(normed), k = layer.key.forward(normed), v = layer.value.forward(normed)
        let attended = Tensor(zeros: [rows, hidden])
        let shape = Attention.Shape(heads: config.numAttentionHeads, kvHeads: config.numAttentionHeads,
                                    headDim: config.headDim, causal: false)
        for image in 0 ..< images {
            let slice = image * tokens ..< (image + 1) * tokens
            Attention.forward(out: attended.slice(slice), queries: q.slice(slice), keys: k.slice(slice), values: v.slice(slice),
                              keyCount: tokens, offset: 0, shape: shape)
        }
        let residual = layer.output.forward(attended)
        Elementwise.add(residual, x)
        LayerNorm.forward(out: normed, input: residual, weight: layer.layerNorm2.weight, bias: layer.layerNorm2.bias, eps: eps)
        let inner = layer.fc1.forward(normed)
        activation.forward(out: inner, input: inner)
        let out = layer.fc2.forward(inner)
        Elementwise.add(out, residual)
        return out
    }

    static func bind(_ binder: WeightBinder, prefix: String, config: CLIPVisionConfig) throws -> VisionWeights {
        let hidden = config.hiddenSize, p = config.patchSize
        let conv = try binder.take(prefix + "embeddings.patch_embedding.weight", shape: [hidden, config.numChannels, p, p])
        var layers: [EncoderLayer] = []
        for i in 0 ..< config.numHiddenLayers {
            let l = prefix + "encoder.layers.\(i)."
            func linear(_ name: String, _ inF: Int, _ outF: Int) throws -> LinearWeights {
                try LinearWeights.bind(binder, l + name, in: inF, out: outF, bias: true)
            }
            layers.append(EncoderLayer(
                layerNorm1: try LayerNormWeights.bind(binder, l + "layer_norm1", width: hidden),
                query: try linear("self_attn.q_proj", hidden, hidden),
                key: try linear("self_attn.k_proj", hidden, hidden),
                value: try linear("self_attn.v_proj", hidden, hidden),
                output: try linear("self_attn.out_proj", hidden, hidden),
                layerNorm2: try LayerNormWeights.bind(binder, l + "layer_norm2", width: hidden),
                fc1: try linear("mlp.fc1", hidden, config.intermediateSize),
                fc2: try linear("mlp.fc2", config.intermediateSize, hidden)))
        }
        let post = binder.has(prefix + "post_layernorm.weight")
            ? try LayerNormWeights.bind(binder, prefix + "post_layernorm", width: hidden) : nil
        return VisionWeights(
            patchEmbedding: conv.reshaped([hidden, config.numChannels * p * p]),
            classEmbedding: try binder.take(prefix + "embeddings.class_embedding", shape: [hidden]),
            positionEmbedding: try binder.take(prefix + "embeddings.position_embedding.weight", shape: [config.patchCount + 1, hidden]),
            preLayerNorm: try LayerNormWeights.bind(binder, prefix + "pre_layrnorm", width: hidden),
            layers: layers, postLayerNorm: post)
    }
}
