import Foundation

/// Elementwise activations named as in Hugging Face configs.
public enum Activation: String, Sendable {
    case gelu, quickGelu = "quick_gelu", geluTanh = "gelu_pytorch_tanh", silu, relu

    public init?(name: String) {
        switch name {
        case "gelu": self = .gelu
        case "quick_gelu": self = .quickGelu
        case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": self = .geluTanh
        case "silu", "swish": self = .silu
        case "relu": self = .relu
        default: return nil
        }
    }

    @inline(__always) func value(_ x: Float) -> Float {
        switch self {
        case .gelu: return 0.5 * x * (1 + erff(x * 0.70710678118654752))
        case .quickGelu: return x / (1 + expf(-1.702 * x))
        case .geluTanh:
            let inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)
            return 0.5 * x * (1 + tanhf(inner))
        case .silu: return x / (1 + expf(-x))
        case .relu: return max(x, 0)
        }
    }

    @inline(__always) func derivative(_ x: Float) -> Float {
        switch self {
        case .gelu:
            let cdf = 0.5 * (1 + erff(x * 0.70710678118654752))
            let pdf = expf(-0.5 * x * x) * 0.3989422804014327
            return cdf + x * pdf
        case .quickGelu:
            let s = 1 / (1 + expf(-1.702 * x))
            return s + x * 1.702 * s * (1 - s)
        case .geluTanh:
            let inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)
            let t = tanhf(inner)
            let dInner = 0.7978845608028654 * (1 + 3 * 0.044715 * x * x)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dInner
        case .silu:
            let s = 1 / (1 + expf(-x))
            return s * (1 + x * (1 - s))
        case .relu: return x > 0 ? 1 : 0
        }
    }

    public func forward(out: Tensor, input: Tensor) {
        let x = input.data, y = out.data
        Parallel.forRanges(input.count, work: input.count * 8) { range in
            for i in range { y[i] = value(x[i]) }
        }
    }

    /// dInput += dOut · f′(input)
    public func backward(dInput: Tensor, dOut: Tensor, input: Tensor) {
        let x = input.data, g = dOut.data, dx = dInput.data
        Parallel.forRanges(input.count, work: input.count * 8) { range in
            for i in range { dx[i] += g[i] * derivative(x[i]) }
        }
    }
}

/// Llama's gated MLP activation: out = silu(gate) · up, with gate and up the two halves of the input's columns
/// kept as separate tensors.
public enum SwiGLU {
    public static func forward(out: Tensor, gate: Tensor, up: Tensor) {
        let g = gate.data, u = up.data, y = out.data
        Parallel.forRanges(out.count, work: out.count * 8) { range in
            for i in range { y[i] = g[i] / (1 + expf(-g[i])) * u[i] }
        }
    }

    /// dGate += dOut · up · silu′(gate); dUp += dOut · silu(gate)
    public static func backward(dGate: Tensor, dUp: Tensor, dOut: Tensor, gate: Tensor, up: Tensor) {
        let g = gate.data, u = up.data, d = dOut.data, dg = dGate.data, du = dUp.data
        Parallel.forRanges(dOut.count, work: dOut.count * 10) { range in
            for i in range {
                let s = 1 / (1 + expf(-g[i]))
                du[i] += d[i] * g[i] * s
                dg[i] += d[i] * u[i] * s * (1 + g[i] * (1 - s))
            }
        }
    }
}
