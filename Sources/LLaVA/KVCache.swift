import ModelIO
import Tensor

/// Keys and values of the positions a sequence has seen, per decoder layer: (capacity, kvHeads·headDim).
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public private(set) var keys: [Tensor]
    public private(set) var values: [Tensor]
    /// Positions filled so far; the next token sits at this position.
    public var length = 0

    public init(layers: Int, capacity: Int, kvDim: Int) {
        self.capacity = capacity
        keys = (0 ..< layers).map { _ in Tensor(zeros: [capacity, kvDim]) }
        values = (0 ..< layers).map { _ in Tensor(zeros: [capacity, kvDim]) }
    }

    public convenience init(config: LlamaConfig, capacity: Int) {
        self.init(layers: config.numHiddenLayers, capacity: capacity, kvDim: config.kvDim)
    }
}
