import ModelIO
import Tensor

/// A linear layer's parameters in PyTorch's layout: weight (out, in), optional bias (out).
///
/// The matrix is float32, or half precision as a bf16/f16 checkpoint stores it (`WeightPrecision.keepHalf`):
/// the forward pass multiplies it as it is (`HalfLinear`); `weight` then widens a copy on every read, which is
/// what training (backward through a frozen matrix) and merging need, and assigning `weight` makes it float32.
public struct LinearWeights: Sendable {
    public var matrix: WeightMatrix
    public var bias: Tensor?

    public init(weight: Tensor, bias: Tensor? = nil) {
        self.matrix = .full(weight)
        self.bias = bias
    }

    public init(matrix: WeightMatrix, bias: Tensor? = nil) {
        self.matrix = matrix
        self.bias = bias
    }

    /// The matrix in float32 (for a half-precision one, a widened copy).
    public var weight: Tensor {
        get { matrix.widened }
        set { matrix = .full(newValue) }
    }

    public var inFeatures: Int { matrix.shape[1] }
    public var outFeatures: Int { matrix.shape[0] }

    static func bind(_ binder: WeightBinder, _ prefix: String, in inFeatures: Int, out outFeatures: Int, bias: Bool) throws -> LinearWeights {
        LinearWeights(matrix: try binder.takeMatrix(prefix + ".weight", shape: [outFeatures, inFeatures]),
                      bias: bias ? try binder.take(prefix + ".bias", shape: [outFeatures]) : nil)
    }

    func forward(_ input: Tensor) -> Tensor {
        let out = Tensor(zeros: [input.rows, outFeatures])
        Linear.forward(out: out, input: input, matrix: matrix, bias: bias)
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
