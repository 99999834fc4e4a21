import ModelIO
import Tensor

/// A linear layer's parameters in PyTorch's layout: weight (out, in), optional bias (out).
public struct LinearWeights: Sendable {
    public var weight: Tensor
    public var bias: Tensor?

    public init(weight: Tensor, bias: Tensor? = nil) {
        self.weight = weight
        self.bias = bias
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    static func bind(_ binder: WeightBinder, _ prefix: String, in inFeatures: Int, out outFeatures: Int, bias: Bool) throws -> LinearWeights {
        LinearWeights(weight: try binder.take(prefix + ".weight", shape: [outFeatures, inFeatures]),
                      bias: bias ? try binder.take(prefix + ".bias", shape: [outFeatures]) : nil)
    }

    func forward(_ input: Tensor) -> Tensor {
        let out = Tensor(zeros: [input.rows, outFeatures])
        Linear.forward(out: out, input: input, weight: weight, bias: bias)
        return out
    }

    func tensors(prefix: String) -> [String: Tensor] {
        var result = [prefix + ".weight": weight]
        if let bias { result[prefix + ".bias"] = bias }
        return result
    }
}

/// LayerNorm parameters (CLIP).
public struct LayerNormWeights: Sendable {
    public var weight: Tensor
    public var bias: Tensor

    static func bind(_ binder: WeightBinder, _ prefix: String, width: Int) throws -> LayerNormWeights {
        LayerNormWeights(weight: try binder.take(prefix + ".weight", shape: [width]),
                         bias: try binder.take(prefix + ".bias", shape: [width]))
    }

    func tensors(prefix: String) -> [String: Tensor] { [prefix + ".weight": weight, prefix + ".bias": bias] }
}
