import CDNNLKernels
import Foundation
import Synchronization

/// A weight matrix kept in half precision (bf16 or f16), row-major, as a checkpoint stores it — usually in place
/// in the memory-mapped file (`owner` keeps the mapping alive), so a half-precision checkpoint costs its own
/// size in memory instead of twice that widened to float32. Products with it go through `HalfLinear`.
public final class HalfMatrix: @unchecked Sendable {
    public enum Format: String, Sendable { case bf16, f16 }

    public let rows: Int
    public let columns: Int
    public let format: Format
    /// The bit patterns, rows × columns, row-major.
    public let bits: UnsafePointer<UInt16>
    private let owner: AnyObject?
    /// The bits are a read-only file mapping's (their pages can be dropped and read again).
    private let mapped: Bool

    public init(rows: Int, columns: Int, format: Format, bits: UnsafePointer<UInt16>, owner: AnyObject?, mapped: Bool = false) {
        self.rows = rows
        self.columns = columns
        self.format = format
        self.bits = bits
        self.owner = owner
        self.mapped = mapped
    }

    /// For a matrix in a mapped file that was widened and will not be multiplied as it is: lets the kernel drop
    /// its pages from memory (they are read again from the file should anything touch them).
    public func releasePages() {
        if mapped { MappedPages.release(UnsafeRawPointer(bits), byteCount: 2 * count) }
    }

    /// A copy of `values` rounded to `format` (round to nearest, ties to even), owning its memory.
    public convenience init(rounding values: Tensor, format: Format) {
        let count = values.count
        let storage = UnsafeMutablePointer<UInt16>.allocate(capacity: max(count, 1))
        for i in 0 ..< count { storage[i] = Self.round(values.data[i], to: format) }
        self.init(rows: values.rows, columns: values.columns, format: format, bits: storage,
                  owner: OwnedBits(storage))
    }

    public var shape: [Int] { [rows, columns] }
    public var count: Int { rows * columns }

    /// The matrix widened to float32 (exactly: every half value is a float32 value).
    public func widened() -> Tensor {
        let out = Tensor(zeros: [rows, columns])
        widen(into: out.data)
        return out
    }

    /// Widens every value into `out` (rows × columns floats), on the cores when large.
    public func widen(into out: UnsafeMutablePointer<Float>) {
        let count = self.count, bits = self.bits, format = self.format
        Parallel.forRanges(count, work: count) { range in
            Self.widen(bits + range.lowerBound, into: out + range.lowerBound, count: range.count, format: format)
        }
    }

    @inlinable
    static func widen(_ source: UnsafePointer<UInt16>, into out: UnsafeMutablePointer<Float>, count: Int, format: Format) {
        switch format {
        case .bf16:
            var i = 0
            let raw = UnsafeRawPointer(source)
            while i + 16 <= count {
                let half = raw.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)
                let wide = SIMD16<UInt32>(truncatingIfNeeded: half) &<< 16
                UnsafeMutableRawPointer(out + i).storeBytes(of: unsafeBitCast(wide, to: SIMD16<Float>.self), as: SIMD16<Float>.self)
                i += 16
            }
            while i < count {
                out[i] = Float(bitPattern: UInt32(source[i]) << 16)
                i += 1
            }
        case .f16:
            for i in 0 ..< count { out[i] = Float(Float16(bitPattern: source[i])) }
        }
    }

    public static func round(_ value: Float, to format: Format) -> UInt16 {
        switch format {
        case .f16:
            return Float16(value).bitPattern
        case .bf16:
            let bits = value.bitPattern
            if value.isNaN { return UInt16(bits >> 16) | 0x40 }
            return UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
        }
    }

    private final class OwnedBits {
        let pointer: UnsafeMutablePointer<UInt16>
        init(_ pointer: UnsafeMutablePointer<UInt16>) { self.pointer = pointer }
        deinit { pointer.deallocate() }
    }
}

/// A linear layer's weight matrix: float32, or half precision as the checkpoint stored it.
public enum WeightMatrix: Sendable {
    case full(Tensor)
    case half(HalfMatrix)
    /// Quantized at load (`--weights int8`).
    case int8(Int8Matrix)

    public var shape: [Int] {
        switch self {
        case let .full(tensor): return tensor.shape
        case let .half(matrix): return matrix.shape
        case let .int8(matrix): return matrix.shape
        }
    }

    /// The bytes the matrix holds in memory (an 8-bit one's scales included).
    public var bytes: Int {
        switch self {
        case let .full(tensor): return 4 * tensor.count
        case let .half(matrix): return 2 * matrix.count
        case let .int8(matrix): return matrix.count + 4 * matrix.rows
        }
    }

    /// The float32 tensor when it is one (what optimisers and gradients may hold), else nil.
    public var fullTensor: Tensor? {
        if case let .full(tensor) = self { return tensor }
        return nil
    }

    /// The values in float32: the tensor itself, or a widened copy (a new allocation on every call).
    public var widened: Tensor {
        switch self {
        case let .full(tensor): return tensor
        case let .half(matrix): return matrix.widened()
        case let .int8(matrix): return matrix.widened()
        }
    }

    /// Calls `body` with the values in float32: the tensor's own, or widened into the thread's scratch buffer
    /// (valid only during the call; no allocation once the buffer has grown).
    func withFloat32<Result>(_ body: (UnsafePointer<Float>) -> Result) -> Result {
        switch self {
        case let .full(tensor): return body(tensor.data)
        case let .half(matrix):
            let scratch = HalfLinear.Scratch.current.floats(matrix.count)
            matrix.widen(into: scratch)
            return body(scratch)
        case let .int8(matrix):
            let scratch = HalfLinear.Scratch.current.floats(matrix.count)
            matrix.widen(into: scratch)
            return body(scratch)
        }
    }
}

extension Linear {
    /// out (N, O) = input (N, I) · matrix (O, I)ᵀ + bias (O), for a float32 or a half-precision matrix.
    public static func forward(out: Tensor, input: Tensor, matrix: WeightMatrix, bias: Tensor?) {
        switch matrix {
        case let .full(weight): forward(out: out, input: input, weight: weight, bias: bias)
        case let .half(weight): HalfLinear.forward(out: out, input: input, weight: weight, bias: bias)
        case let .int8(weight): Int8Linear.forward(out: out, input: input, weight: weight, bias: bias)
        }
    }

    /// out (N, O) += input (N, I) · matrix (O, I)ᵀ in float32, for a small matrix (a served adapter's B_t): a
    /// half or int8 matrix is widened into the thread's scratch buffer, so a product allocates nothing and the
    /// sums are exactly those of the widened float32 matrix.
    public static func accumulate(into out: Tensor, input: Tensor, matrix: WeightMatrix) {
        let outFeatures = matrix.shape[0]
        precondition(matrix.shape[1] == input.columns && out.count == input.rows * outFeatures, "linear \(input.shape)·\(matrix.shape) into \(out.shape)")
        guard input.rows > 0 else { return }
        matrix.withFloat32 { forward(out: out, input: input, weights: $0, outFeatures: outFeatures, bias: nil, accumulate: true) }
    }
}

/// Products with half-precision weights: `out = input · Wᵀ (+ bias)` for a PyTorch-layout (out, in) matrix.
///
/// Two kernels, one chosen per process at start-up (`HalfLinear.kernel`, logged like the BLAS kernel):
/// - `.oneDNN`: bf16 weights multiplied in place by oneDNN's bf16 matmul, the input rounded to bf16 and the
///   sums kept in float32 (PyTorch's bf16 arithmetic). Chosen where the CPU multiplies bf16 natively
///   (AVX512-BF16 or AMX): there it ran 3–6× OpenBLAS's sgemm on a 2-core EPYC (README, "At real model sizes").
/// - `.widen`: the matrix widened to float32 into a per-thread scratch buffer, then OpenBLAS's sgemm; the
///   result is exactly the float32 model's. The fallback everywhere else (and for f16).
public enum HalfLinear {
    public enum Kernel: String, Sendable, CaseIterable { case oneDNN = "onednn", widen }

    private static let chosen = Mutex<Kernel?>(nil)

    /// The kernel for bf16 weights; the default is `.oneDNN` where the CPU multiplies bf16 natively
    /// (`MNEME_HALF_KERNEL=widen|onednn` overrides it).
    public static var kernel: Kernel {
        get {
            chosen.withLock { current in
                if let current { return current }
                let picked = Kernel(rawValue: ProcessInfo.processInfo.environment["MNEME_HALF_KERNEL"] ?? "")
                    ?? (nativeBF16 ? .oneDNN : .widen)
                current = picked
                return picked
            }
        }
        set { chosen.withLock { $0 = newValue } }
    }

    /// Whether oneDNN multiplies bf16 natively on this CPU.
    public static var nativeBF16: Bool { mneme_dnnl_bf16_native() != 0 }

    /// oneDNN primitives alive: at most the cache's 256 shapes, plus evicted ones a product is still running on.
    public static var primitivesAlive: Int { Int(mneme_dnnl_primitives_alive()) }

    /// A line for the log: the kernel and why.
    public static var report: String {
        let kernel = self.kernel
        let version = String(cString: mneme_dnnl_version())
        switch kernel {
        case .oneDNN:
            return "half-precision weights: oneDNN \(version) bf16 matmul" + (nativeBF16 ? " (the CPU multiplies bf16 natively)" : " (chosen by MNEME_HALF_KERNEL)")
        case .widen:
            return "half-precision weights: widened to float32 per product for OpenBLAS" + (nativeBF16 ? " (chosen by MNEME_HALF_KERNEL)" : " (no native bf16 on this CPU)")
        }
    }

    /// out (N, O) = input (N, I) · weight (O, I)ᵀ + bias (O).
    public static func forward(out: Tensor, input: Tensor, weight: HalfMatrix, bias: Tensor?, kernel: Kernel? = nil) {
        let rows = input.rows, inFeatures = input.columns, outFeatures = weight.rows
        precondition(weight.columns == inFeatures && out.count == rows * outFeatures, "linear \(input.shape)·\(weight.shape) into \(out.shape)")
        guard rows > 0 else { return }
        var kernel = weight.format == .bf16 ? (kernel ?? self.kernel) : .widen
        if kernel == .oneDNN {
            let status = mneme_dnnl_bf16_linear(Int64(rows), Int64(inFeatures), Int64(outFeatures), input.data, weight.bits, out.data)
            if status != 0 {
                // Not expected (oneDNN has a reference kernel for every CPU); should it happen, the process goes on
                // with the widening kernel rather than fail a query.
                self.kernel = .widen
                kernel = .widen
                FileHandle.standardError.write(Data("oneDNN bf16 matmul \(rows)×\(inFeatures)×\(outFeatures) failed (status \(status)); using the widening kernel from now on\n".utf8))
            }
        }
        switch kernel {
        case .oneDNN:
            BLAS.flopCounter.add(2 * rows * inFeatures * outFeatures, ordering: .relaxed)
            if let bias {
                for row in 0 ..< rows {
                    let line = out.data + row * outFeatures
                    for o in 0 ..< outFeatures { line[o] += bias.data[o] }
                }
            }
        case .widen:
            WeightMatrix.half(weight).withFloat32 { Linear.forward(out: out, input: input, weights: $0, outFeatures: outFeatures, bias: bias) }
        }
    }

    /// A per-thread float buffer that grows to the largest matrix widened on that thread.
    final class Scratch {
        private var pointer: UnsafeMutablePointer<Float>?
        private var capacity = 0

        func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
            if count > capacity {
                pointer?.deallocate()
                pointer = .allocate(capacity: count)
                capacity = count
            }
            return pointer!
        }

        deinit { pointer?.deallocate() }

        static var current: Scratch {
            let key = "mneme.half-scratch"
            if let existing = Thread.current.threadDictionary[key] as? Scratch { return existing }
            let made = Scratch()
            Thread.current.threadDictionary[key] = made
            return made
        }
    }
}
