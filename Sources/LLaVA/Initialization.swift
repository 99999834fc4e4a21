import Foundation
import ModelIO
import Tensor

extension LlavaModel {
    /// A freshly initialised model for training from scratch.
    ///
    /// Matrices and embeddings are N(0, 0.02²) as transformers initialises Llama and CLIP; the output projections
    /// of every residual branch (attention out, MLP down / fc2) are scaled by 1/√(2·layers) so the residual stream
    /// keeps its scale at initialisation; norms start at 1 and biases at 0.
    public static func randomlyInitialized(config: LlavaConfig, seed: UInt64) -> LlavaModel {
        var generator = NormalGenerator(seed: seed)
        func normal(_ shape: [Int], std: Float = 0.02) -> Tensor {
            let tensor = Tensor(zeros: shape)
            for i in 0 ..< tensor.count { tensor.data[i] = std * generator.next() }
            return tensor
        }
        func ones(_ count: Int) -> Tensor { let t = Tensor(zeros: [count]); t.fill(1); return t }
        func linear(_ inF: Int, _ outF: Int, bias: Bool, std: Float = 0.02) -> LinearWeights {
            LinearWeights(weight: normal([outF, inF], std: std), bias: bias ? Tensor(zeros: [outF]) : nil)
        }
        let v = config.visionConfig, t = config.textConfig
        let visionResidual = 0.02 / Float(2 * v.numHiddenLayers).squareRoot()
        let vision = CLIP.VisionWeights(
            patchEmbedding: normal([v.hiddenSize, v.numChannels * v.patchSize * v.patchSize]),
            classEmbedding: normal([v.hiddenSize]),
            positionEmbedding: normal([v.patchCount + 1, v.hiddenSize]),
            preLayerNorm: LayerNormWeights(weight: ones(v.hiddenSize), bias: Tensor(zeros: [v.hiddenSize])),
            layers: (0 ..< v.numHiddenLayers).map { _ in
                CLIP.EncoderLayer(
                    layerNorm1: LayerNormWeights(weight: ones(v.hiddenSize), bias: Tensor(zeros: [v.hiddenSize])),
                    query: linear(v.hiddenSize, v.hiddenSize, bias: true), key: linear(v.hiddenSize, v.hiddenSize, bias: true),
                    value: linear(v.hiddenSize, v.hiddenSize, bias: true),
                    output: linear(v.hiddenSize, v.hiddenSize, bias: true, std: visionResidual),
                    layerNorm2: LayerNormWeights(weight: ones(v.hiddenSize), bias: Tensor(zeros: [v.hiddenSize])),
                    fc1: linear(v.hiddenSize, v.intermediateSize, bias: true),
                    fc2: linear(v.intermediateSize, v.hiddenSize, bias: true, std: visionResidual))
            },
            postLayerNorm: LayerNormWeights(weight: ones(v.hiddenSize), bias: Tensor(zeros: [v.hiddenSize])))
        let projector = Projector.Weights(
            linear1: linear(v.hiddenSize * config.visionFeatureLayers.count, t.hiddenSize, bias: config.multimodalProjectorBias),
            linear2: linear(t.hiddenSize, t.hiddenSize, bias: config.multimodalProjectorBias))
        let textResidual = 0.02 / Float(2 * t.numHiddenLayers).squareRoot()
        let embed = normal([t.vocabSize, t.hiddenSize])
        let text = Llama.Weights(
            embedTokens: embed,
            layers: (0 ..< t.numHiddenLayers).map { _ in
                Llama.DecoderLayer(
                    inputNorm: ones(t.hiddenSize),
                    query: linear(t.hiddenSize, t.qDim, bias: t.attentionBias), key: linear(t.hiddenSize, t.kvDim, bias: t.attentionBias),
                    value: linear(t.hiddenSize, t.kvDim, bias: t.attentionBias),
                    output: linear(t.qDim, t.hiddenSize, bias: t.attentionBias, std: textResidual),
                    postAttentionNorm: ones(t.hiddenSize),
                    gate: linear(t.hiddenSize, t.intermediateSize, bias: t.mlpBias), up: linear(t.hiddenSize, t.intermediateSize, bias: t.mlpBias),
                    down: linear(t.intermediateSize, t.hiddenSize, bias: t.mlpBias, std: textResidual))
            },
            norm: ones(t.hiddenSize),
            lmHead: config.tieWordEmbeddings ? embed : normal([t.vocabSize, t.hiddenSize]))
        return LlavaModel(config: config, vision: vision, projector: projector, text: text)
    }
}

/// Standard normal samples (Box–Muller over SplitMix64), reproducible across machines.
struct NormalGenerator {
    private var generator: SeededGenerator
    private var spare: Float?

    init(seed: UInt64) { generator = SeededGenerator(seed: seed) }

    mutating func next() -> Float {
        if let spare { self.spare = nil; return spare }
        let u = max(Double(generator.next() >> 11) / Double(1 << 53), 1e-300)
        let v = Double(generator.next() >> 11) / Double(1 << 53)
        let radius = (-2 * log(u)).squareRoot()
        spare = Float(radius * sin(2 * .pi * v))
        return Float(radius * cos(2 * .pi * v))
    }
}
