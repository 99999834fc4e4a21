import Tensor

/// Gradient buffers for the trainable tensors, found by storage identity.
///
/// Weights are reference-typed tensors, so a gradient is keyed by the storage it belongs to: tied tensors
/// (embeddings and LM head) share one gradient, and a frozen tensor has none — backward passes get `nil`
/// and skip the weight-gradient product altogether.
public final class Gradients: @unchecked Sendable {
    public private(set) var parameters: [(name: String, value: Tensor)] = []
    private var buffers: [ObjectIdentifier: Tensor] = [:]

    public init() {}

    /// Marks `tensor` trainable (once per storage; later registrations of a tied tensor are ignored).
    public func register(_ name: String, _ tensor: Tensor) {
        let key = ObjectIdentifier(tensor.storage)
        guard buffers[key] == nil else { return }
        precondition(tensor.offset == 0 && tensor.count == tensor.storage.count, "trainable tensors own their storage")
        buffers[key] = Tensor(zeros: tensor.shape)
        parameters.append((name, tensor))
    }

    public func register(_ named: [(String, Tensor)]) { for (name, tensor) in named { register(name, tensor) } }

    /// The gradient of a trainable tensor in its own shape, or nil when it is frozen.
    public func of(_ tensor: Tensor) -> Tensor? {
        buffers[ObjectIdentifier(tensor.storage)].map { $0.reshaped(tensor.shape) }
    }

    public func of(_ tensor: Tensor?) -> Tensor? { tensor.flatMap { of($0) } }
    /// A linear layer's matrix: only a float32 one can be trained (a half-precision one is always frozen).
    public func of(_ matrix: WeightMatrix) -> Tensor? { of(matrix.fullTensor) }

    func isTrainable(_ tensor: Tensor) -> Bool { buffers[ObjectIdentifier(tensor.storage)] != nil }
    func isTrainable(_ matrix: WeightMatrix) -> Bool { matrix.fullTensor.map(isTrainable) ?? false }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    public func zero() { for buffer in buffers.values { buffer.zero() } }

    /// Global L2 norm over all gradients.
    public func norm() -> Float {
        var sum: Double = 0
        for buffer in buffers.values {
            for i in 0 ..< buffer.count { sum += Double(buffer.data[i] * buffer.data[i]) }
        }
        return Float(sum.squareRoot())
    }

    public func scale(by factor: Float) { for buffer in buffers.values { Elementwise.scale(buffer, by: factor) } }
}
