import Foundation

/// Owns one 64-byte aligned, zero-initialised float32 allocation.
public final class TensorStorage: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int

    /// Training allocates and frees megabyte-sized activations every step. glibc would hand each one to mmap
    /// and back (a page fault per 4 KiB, every step); keeping them in the heap makes reuse free.
    private static let heapConfigured: Bool = {
        #if os(Linux)
        _ = glibcMallopt(-3, 32 << 20)  // M_MMAP_THRESHOLD (glibc's maximum)
        _ = glibcMallopt(-1, 256 << 20)  // M_TRIM_THRESHOLD
        #endif
        return true
    }()

    public init(count: Int) {
        precondition(count >= 0, "negative tensor size")
        _ = Self.heapConfigured
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}

/// A dense, row-major float32 tensor with reference semantics (like a torch tensor):
/// copies of a `Tensor` share storage, and views share it with their parent.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let storage: TensorStorage
    public let offset: Int

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(count: shape.reduce(1, *))
        self.offset = 0
    }

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    public init(shape: [Int], storage: TensorStorage, offset: Int = 0) {
        precondition(offset + shape.reduce(1, *) <= storage.count, "view \(shape) at \(offset) exceeds storage")
        self.shape = shape
        self.storage = storage
        self.offset = offset
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var data: UnsafeMutablePointer<Float> { storage.base + offset }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    /// Size of the last dimension; rows are everything before it.
    public var columns: Int { shape.last ?? 1 }
    public var rows: Int { count / max(columns, 1) }

    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: newShape, storage: storage, offset: offset)
    }

    /// Rows `range` of the leading dimension, sharing storage.
    public func slice(_ range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0], "slice \(range) out of \(shape)")
        let inner = shape.dropFirst().reduce(1, *)
        return Tensor(shape: [range.count] + shape.dropFirst(), storage: storage, offset: offset + range.lowerBound * inner)
    }

    public subscript(index: Int) -> Tensor { slice(index ..< index + 1).reshaped(Array(shape.dropFirst())) }

    public func copy() -> Tensor {
        let result = Tensor(zeros: shape)
        result.data.update(from: data, count: count)
        return result
    }

    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy of \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }

    public func zero() { data.update(repeating: 0, count: count) }
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    public func toArray() -> [Float] { Array(buffer) }

    public var description: String { "Tensor\(shape)" }
}

#if os(Linux)
/// glibc's mallopt (malloc.h is not part of the Glibc module map).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
