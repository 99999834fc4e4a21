import ModelIO
import Tensor

/// LLaVA's multimodal projector: Linear → activation → Linear, from vision features to text embeddings.
public enum Projector {
    public struct Weights: Sendable {
        public var linear1: LinearWeights
        public var linear2: LinearWeights
    }

    public static func forward(weights: Weights, activation: Activation, features: Tensor) -> Tensor {
        let inner = weights.linear1.forward(features)
        activation.forward(out: inner, input: inner)
        return weights.linear2.forward(inner)
    }

    static func bind(_ binder: WeightBinder, prefix: String, config: LlavaConfig) throws -> Weights {
        let inFeatures = config.visionConfig.hiddenSize * config.visionFeatureLayers.count
        let hidden = config.textConfig.hiddenSize
        return Weights(
            linear1: try LinearWeights.bind(binder, prefix + "linear_1", in: inFeatures, out: hidden, bias: config.multimodalProjectorBias),
            linear2: try LinearWeights.bind(binder, prefix + "linear_2", in: hidden, out: hidden, bias: config.multimodalProjectorBias))
    }
}
