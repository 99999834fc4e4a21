import ModelIO
import Tensor

/// CLIP's vision tower and LLaVA's projector on a batch of images, keeping what backward needs.
///
/// Rows are `images × tokens` (tokens = patches + 1, class token first); attention is per image, unmasked.
public enum CLIPTraining {
    final class LayerActivations {
        let input: Tensor
        let mean1: Tensor, rstd1: Tensor, normed1: Tensor
        var q: Tensor!, k: Tensor!, v: Tensor!
        let probabilities: Tensor  // (images, H, S, S)
        let attended: Tensor
        var residual: Tensor!
        let mean2: Tensor, rstd2: Tensor, normed2: Tensor
        var inner: Tensor!  // fc1 output before the activation
        let activated: Tensor

        init(input: Tensor, config: CLIPVisionConfig, images: Int, tokens: Int) {
            let rows = input.rows, hidden = config.hiddenSize
            self.input = input
            mean1 = Tensor(zeros: [rows]); rstd1 = Tensor(zeros: [rows]); normed1 = Tensor(zeros: [rows, hidden])
            probabilities = Tensor(zeros: [images, config.numAttentionHeads, tokens, tokens])
            attended = Tensor(zeros: [rows, hidden])
            mean2 = Tensor(zeros: [rows]); rstd2 = Tensor(zeros: [rows]); normed2 = Tensor(zeros: [rows, hidden])
            activated = Tensor(zeros: [rows, config.intermediateSize])
        }
    }

    public final class Activations {
        let images: Int, tokens: Int
        var patches: Tensor!  // (images·patches, C·P·P)
        var embeddings: Tensor!
        var preMean: Tensor!, preRstd: Tensor!
        var layers: [LayerActivations] = []
        /// Hidden states by index (0 = after the pre-layernorm).
        var states: [Int: Tensor] = [:]
        /// The projector's input (images·features, hidden·layers).
        public internal(set) var selected: Tensor!
        var projectorInner: Tensor!
        var projectorActivated: Tensor!
        /// Image features (images·features, text hidden), image-major.
        public internal(set) var features: Tensor!

        init(images: Int, tokens: Int) { self.images = images; self.tokens = tokens }
    }

    /// pixels: one (C, H, W) tensor per image → image features for all images.
    public static func forward(model: LlavaModel, pixels: [Tensor]) -> Activations {
        let config = model.config, v = config.visionConfig, weights = model.vision
        let images = pixels.count, tokens = v.patchCount + 1, hidden = v.hiddenSize
        let activations = Activations(images: images, tokens: tokens)
        let patchWidth = v.numChannels * v.patchSize * v.patchSize
        let patches = Tensor(zeros: [images * v.patchCount, patchWidth])
        for (i, image) in pixels.enumerated() {
            patches.slice(i * v.patchCount ..< (i + 1) * v.patchCount).copy(from: CLIP.patches(of: image, config: v))
        }
        activations.patches = patches
        let projected = Tensor(zeros: [images * v.patchCount, hidden])
        Linear.forward(out: projected, input: patches, weight: weights.patchEmbedding, bias: nil)
        let embeddings = Tensor(zeros: [images * tokens, hidden])
        for i in 0 ..< images {
            let image = embeddings.slice(i * tokens ..< (i + 1) * tokens)
            image.data.update(from: weights.classEmbedding.data, count: hidden)
            image.slice(1 ..< tokens).copy(from: projected.slice(i * v.patchCount ..< (i + 1) * v.patchCount))
            Elementwise.add(image, weights.positionEmbedding)
        }
        activations.embeddings = embeddings
        activations.preMean = Tensor(zeros: [images * tokens])
        activations.preRstd = Tensor(zeros: [images * tokens])
        var x = Tensor(zeros: embeddings.shape)
        LayerNorm.forward(out: x, input: embeddings, weight: weights.preLayerNorm.weight, bias: weights.preLayerNorm.bias,
                          eps: v.layerNormEps, mean: activations.preMean, rstd: activations.preRstd)
        activations.states[0] = x
        let shape = Attention.Shape(heads: v.numAttentionHeads, kvHeads: v.numAttentionHeads, headDim: v.headDim, causal: false)
        let activation = Activation(name: v.hiddenAct) ?? .quickGelu
        for (index, layer) in weights.layers.prefix(config.visionLayersNeeded).enumerated() {
            TrainingYield.point()
            let saved = LayerActivations(input: x, config: v, images: images, tokens: tokens)
            LayerNorm.forward(out: saved.normed1, input: x, weight: layer.layerNorm1.weight, bias: layer.layerNorm1.bias,
                              eps: v.layerNormEps, mean: saved.mean1, rstd: saved.rstd1)
            saved.q = layer.query.forward(saved.normed1)
            saved.k = layer.key.forward(saved.normed1)
            saved.v = layer.value.forward(saved.normed1)
            for i in 0 ..< images {
                let rows = i * tokens ..< (i + 1) * tokens
                Attention.forward(out: saved.attended.slice(rows), queries: saved.q.slice(rows), keys: saved.k.slice(rows),
                                  values: saved.v.slice(rows), keyCount: tokens, offset: 0, shape: shape,
                                  probabilities: saved.probabilities[i])
            }
            let residual = layer.output.forward(saved.attended)
            Elementwise.add(residual, x)
            saved.residual = residual
            LayerNorm.forward(out: saved.normed2, input: residual, weight: layer.layerNorm2.weight, bias: layer.layerNorm2.bias,
                              eps: v.layerNormEps, mean: saved.mean2, rstd: saved.rstd2)
            saved.inner = layer.fc1.forward(saved.normed2)
            activation.forward(out: saved.activated, input: saved.inner)
            let out = layer.fc2.forward(saved.activated)
            Elementwise.add(out, residual)
            activations.layers.append(saved)
            x = out
            activations.states[index + 1] = x
        }
        // Select feature layers (and drop the class token under `default`), then project.
        let indices = config.featureHiddenStateIndices
        let first = config.keepsClassToken ? 0 : 1
        let perImage = tokens - first
        let selected = Tensor(zeros: [images * perImage, hidden * indices.count])
        for i in 0 ..< images {
            for row in 0 ..< perImage {
                for (slot, index) in indices.enumerated() {
                    (selected.data + (i * perImage + row) * selected.columns + slot * hidden)
                        .update(from: activations.states[index]!.data + (i * tokens + row + first) * hidden, count: hidden)
                }
            }
        }
        activations.selected = selected
        activations.projectorInner = model.projector.linear1.forward(selected)
        activations.projectorActivated = Tensor(zeros: activations.projectorInner.shape)
        (Activation(name: config.projectorHiddenAct) ?? .gelu).forward(out: activations.projectorActivated,
                                                                        input: activations.projectorInner)
        activations.features = model.projector.linear2.forward(activations.projectorActivated)
        return activations
    }

    /// Projector only, from cached vision features (selected hidden states) of a frozen tower.
    static func projectorForward(model: LlavaModel, selected: Tensor) -> Activations {
        let activations = Activations(images: 0, tokens: 0)
        activations.selected = selected
        activations.projectorInner = model.projector.linear1.forward(selected)
        activations.projectorActivated = Tensor(zeros: activations.projectorInner.shape)
        (Activation(name: model.config.projectorHiddenAct) ?? .gelu).forward(out: activations.projectorActivated,
                                                                              input: activations.projectorInner)
        activations.features = model.projector.linear2.forward(activations.projectorActivated)
        return activations
    }

    /// Adds gradients given dFeatures; runs into the tower only when `throughTower` and it has trainable weights.
    /// `dSelected` is an extra gradient on the projector's input (auxiliary losses on the tower's features).
    public static func backward(model: LlavaModel, activations: Activations, dFeatures: Tensor, gradients: Gradients,
                                throughTower: Bool, dSelected extraSelected: Tensor? = nil) {
        let config = model.config, v = config.visionConfig, weights = model.vision
        let projector = model.projector
        let dActivated = Tensor(zeros: activations.projectorActivated.shape)
        Linear.backward(dInput: dActivated, dWeight: gradients.of(projector.linear2.matrix), dBias: gradients.of(projector.linear2.bias),
                        dOut: dFeatures, input: activations.projectorActivated, weight: projector.linear2.weight)
        let dInner = Tensor(zeros: dActivated.shape)
        (Activation(name: config.projectorHiddenAct) ?? .gelu).backward(dInput: dInner, dOut: dActivated, input: activations.projectorInner)
        let dSelected: Tensor? = throughTower ? Tensor(zeros: activations.selected.shape) : nil
        Linear.backward(dInput: dSelected, dWeight: gradients.of(projector.linear1.matrix), dBias: gradients.of(projector.linear1.bias),
                        dOut: dInner, input: activations.selected, weight: projector.linear1.weight)
        guard let dSelected else { return }
        if let extraSelected { Elementwise.add(dSelected, extraSelected) }

        let images = activations.images, tokens = activations.tokens, hidden = v.hiddenSize
        let indices = config.featureHiddenStateIndices
        let first = config.keepsClassToken ? 0 : 1
        let perImage = tokens - first
        // Scatter the feature gradients back onto the hidden states they came from.
        var dStates: [Int: Tensor] = [:]
        for index in Set(indices) { dStates[index] = Tensor(zeros: [images * tokens, hidden]) }
        for i in 0 ..< images {
            for row in 0 ..< perImage {
                for (slot, index) in indices.enumerated() {
                    let target = dStates[index]!.data + (i * tokens + row + first) * hidden
                    let source = dSelected.data + (i * perImage + row) * dSelected.columns + slot * hidden
                    for j in 0 ..< hidden { target[j] += source[j] }
                }
            }
        }
        let shape = Attention.Shape(heads: v.numAttentionHeads, kvHeads: v.numAttentionHeads, headDim: v.headDim, causal: false)
        let activation = Activation(name: v.hiddenAct) ?? .quickGelu
        var dX = dStates[activations.layers.count] ?? Tensor(zeros: [images * tokens, hidden])
        for index in activations.layers.indices.reversed() {
            TrainingYield.point()
            let layer = weights.layers[index], saved = activations.layers[index]
            let dResidual = dX.copy()
            let dActivatedMLP = Tensor(zeros: saved.activated.shape)
            Linear.backward(dInput: dActivatedMLP, dWeight: gradients.of(layer.fc2.matrix), dBias: gradients.of(layer.fc2.bias),
                            dOut: dX, input: saved.activated, weight: layer.fc2.weight)
            let dInnerMLP = Tensor(zeros: saved.inner.shape)
            activation.backward(dInput: dInnerMLP, dOut: dActivatedMLP, input: saved.inner)
            let dNormed2 = Tensor(zeros: saved.normed2.shape)
            Linear.backward(dInput: dNormed2, dWeight: gradients.of(layer.fc1.matrix), dBias: gradients.of(layer.fc1.bias),
                            dOut: dInnerMLP, input: saved.normed2, weight: layer.fc1.weight)
            LayerNorm.backward(dInput: dResidual, dWeight: gradients.of(layer.layerNorm2.weight), dBias: gradients.of(layer.layerNorm2.bias),
                               dOut: dNormed2, input: saved.residual, weight: layer.layerNorm2.weight, mean: saved.mean2, rstd: saved.rstd2)
            let dInput = dResidual.copy()
            let dAttended = Tensor(zeros: saved.attended.shape)
            Linear.backward(dInput: dAttended, dWeight: gradients.of(layer.output.matrix), dBias: gradients.of(layer.output.bias),
                            dOut: dResidual, input: saved.attended, weight: layer.output.weight)
            let dQ = Tensor(zeros: saved.q.shape), dK = Tensor(zeros: saved.k.shape), dV = Tensor(zeros: saved.v.shape)
            for i in 0 ..< images {
                let rows = i * tokens ..< (i + 1) * tokens
                Attention.backward(dQueries: dQ.slice(rows), dKeys: dK.slice(rows), dValues: dV.slice(rows),
                                   dOut: dAttended.slice(rows), queries: saved.q.slice(rows), keys: saved.k.slice(rows),
                                   values: saved.v.slice(rows), probabilities: saved.probabilities[i], shape: shape)
            }
            let dNormed1 = Tensor(zeros: saved.normed1.shape)
            for (linear, d) in [(layer.query, dQ), (layer.key, dK), (layer.value, dV)] {
                Linear.backward(dInput: dNormed1, dWeight: gradients.of(linear.matrix), dBias: gradients.of(linear.bias),
                                dOut: d, input: saved.normed1, weight: linear.weight)
            }
            LayerNorm.backward(dInput: dInput, dWeight: gradients.of(layer.layerNorm1.weight), dBias: gradients.of(layer.layerNorm1.bias),
                               dOut: dNormed1, input: saved.input, weight: layer.layerNorm1.weight, mean: saved.mean1, rstd: saved.rstd1)
            if let dState = dStates[index] { Elementwise.add(dInput, dState) }
            dX = dInput
        }
        // Pre-layernorm, position and class embeddings, patch projection.
        let dEmbeddings = Tensor(zeros: activations.embeddings.shape)
        LayerNorm.backward(dInput: dEmbeddings, dWeight: gradients.of(weights.preLayerNorm.weight), dBias: gradients.of(weights.preLayerNorm.bias),
                           dOut: dX, input: activations.embeddings, weight: weights.preLayerNorm.weight,
                           mean: activations.preMean, rstd: activations.preRstd)
        let dProjected = Tensor(zeros: [images * v.patchCount, hidden])
        for i in 0 ..< images {
            let image = dEmbeddings.slice(i * tokens ..< (i + 1) * tokens)
            if let dPosition = gradients.of(weights.positionEmbedding) { Elementwise.add(dPosition, image) }
            if let dClass = gradients.of(weights.classEmbedding) { Elementwise.add(dClass, image[0]) }
            dProjected.slice(i * v.patchCount ..< (i + 1) * v.patchCount).copy(from: image.slice(1 ..< tokens))
        }
        if let dPatch = gradients.of(weights.patchEmbedding) {
            Linear.backward(dInput: nil, dWeight: dPatch, dBias: nil, dOut: dProjected, input: activations.patches,
                            weight: weights.patchEmbedding)
        }
    }
}
