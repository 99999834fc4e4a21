import Tensor

/// How the rows of a batch group into sequences, for adapters whose gates depend on the sequence.
public struct AdapterContext: Sendable {
    /// Index of the task whose router is used (BranchLoRA); 0 is the base model.
    public var task: Int
    /// Row ranges of each sequence, in order; the first row of each is the sequence's first token.
    public var sequences: [Range<Int>]

    public init(task: Int, sequences: [Range<Int>]) {
        self.task = task
        self.sequences = sequences
    }
}

/// What an adapter's forward saved for its backward.
public final class AdapterActivations: @unchecked Sendable {
    public var tensors: [String: Tensor] = [:]
    public var values: [String: [Float]] = [:]
    public init() {}
}

/// A trainable low-rank update attached to one linear projection, whose base weight stays frozen.
public protocol Adapter: AnyObject, Sendable {
    var inFeatures: Int { get }
    var outFeatures: Int { get }

    /// Adds the adapter's contribution for `input` (N, in) into `out` (N, out).
    func forward(input: Tensor, out: Tensor, context: AdapterContext) -> AdapterActivations

    /// Adds gradients: into `dInput` when given, and into the adapter's trainable tensors registered in `gradients`.
    func backward(dOut: Tensor, input: Tensor, dInput: Tensor?, saved: AdapterActivations,
                  gradients: Gradients, context: AdapterContext)

    /// The dense update (out, in) this adapter adds for `task`, or nil when it depends on the input (not mergeable).
    func mergedDelta(task: Int) -> Tensor?

    /// Every tensor, named relative to the adapter (for saving).
    func namedTensors() -> [(String, Tensor)]

    /// The tensors tuning on `task` may change.
    func trainableTensors(task: Int) -> [(String, Tensor)]

    /// An independent copy (tuning a copy never changes a snapshot that is serving).
    func copy() -> any Adapter
}

extension Adapter {
    /// For adapters whose update does not depend on the input: y += x · Δᵀ.
    func addMerged(task: Int, input: Tensor, out: Tensor) -> Bool {
        guard let delta = mergedDelta(task: task) else { return false }
        BLAS.matmul(input, delta, transposeB: true, into: out, beta: 1)
        return true
    }
}

/// Uniform initialisation from a seeded `SplitMix64` (PEFT's kaiming-uniform is not needed at our scale).
struct SeededGenerator: RandomNumberGenerator {
    private var source: SplitMix64
    init(seed: UInt64) { source = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15) }

    mutating func next() -> UInt64 { source.next() }

    mutating func uniform(_ bound: Float) -> Float { Float.random(in: -bound ... bound, using: &self) }
}

extension Tensor {
    /// Uniform(−bound, bound) entries from a seeded generator.
    static func uniform(_ shape: [Int], bound: Float, seed: UInt64) -> Tensor {
        var generator = SeededGenerator(seed: seed)
        let tensor = Tensor(zeros: shape)
        for i in 0 ..< tensor.count { tensor.data[i] = generator.uniform(bound) }
        return tensor
    }
}
