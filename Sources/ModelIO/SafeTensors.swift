import Foundation
import Tensor

/// Errors reading or writing model files, with the file and key they concern.
public enum ModelIOError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case malformedHeader(path: String, reason: String)
    case unsupportedDType(key: String, dtype: String)
    case outOfBounds(key: String, path: String)
    case missingTensor(key: String)
    case unusedTensors(keys: [String])
    case shapeMismatch(key: String, expected: [Int], got: [Int])
    case malformedConfig(path: String, reason: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "cannot open \(path): \(reason)"
        case let .malformedHeader(path, reason): return "malformed safetensors header in \(path): \(reason)"
        case let .unsupportedDType(key, dtype): return "tensor \(key) has unsupported dtype \(dtype)"
        case let .outOfBounds(key, path): return "tensor \(key) points outside the data of \(path)"
        case let .missingTensor(key): return "checkpoint has no tensor \(key)"
        case let .unusedTensors(keys):
            let shown = keys.prefix(8).joined(separator: ", ")
            return "checkpoint has \(keys.count) tensor(s) the model does not use: \(shown)\(keys.count > 8 ? ", …" : "")"
        case let .shapeMismatch(key, expected, got): return "tensor \(key) has shape \(got), the model expects \(expected)"
        case let .malformedConfig(path, reason): return "cannot read \(path): \(reason)"
        case let .writeFailed(path, reason): return "cannot write \(path): \(reason)"
        }
    }
}

/// Element types found in safetensors files.
public enum SafeTensorsDType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64", i64 = "I64", i32 = "I32", u8 = "U8", bool = "BOOL"

    var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .u8, .bool: return 1
        }
    }
}

/// One safetensors file, memory-mapped; tensors are converted to float32 when read.
public final class SafeTensorsFile: @unchecked Sendable {
    public struct Entry: Sendable {
        public let dtype: SafeTensorsDType
        public let shape: [Int]
        let start: Int
        let end: Int
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let mapping: Data
    private let dataStart: Int

    public init(contentsOf url: URL) throws {
        path = url.path
        do {
            mapping = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw ModelIOError.cannotOpen(path: url.path, reason: error.localizedDescription)
        }
        guard mapping.count >= 8 else { throw ModelIOError.malformedHeader(path: path, reason: "file shorter than 8 bytes") }
        let headerLength = mapping.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian) }
        guard headerLength > 0, 8 + headerLength <= mapping.count else {
            throw ModelIOError.malformedHeader(path: path, reason: "header length \(headerLength) exceeds file size \(mapping.count)")
        }
        dataStart = 8 + headerLength
        let header = mapping.subdata(in: 8 ..< dataStart)
        guard let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw ModelIOError.malformedHeader(path: path, reason: "header is not a JSON object")
        }
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        let dataLength = mapping.count - dataStart
        for (key, value) in object {
            if key == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw ModelIOError.malformedHeader(path: path, reason: "entry \(key) lacks dtype, shape or data_offsets")
            }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw ModelIOError.unsupportedDType(key: key, dtype: dtypeName)
            }
            let count = shape.reduce(1, *)
            guard offsets[0] >= 0, offsets[1] <= dataLength, offsets[1] - offsets[0] == count * dtype.byteSize else {
                throw ModelIOError.outOfBounds(key: key, path: path)
            }
            entries[key] = Entry(dtype: dtype, shape: shape, start: offsets[0], end: offsets[1])
        }
        self.entries = entries
        self.metadata = metadata
    }

    public var keys: [String] { entries.keys.sorted() }

    /// A 2-D half-precision (bf16 or f16) tensor in place in the mapped file, without a copy; nil for other
    /// dtypes and ranks, or when its data is not 2-byte aligned in memory.
    public func half(_ key: String) throws -> HalfMatrix? {
        guard let entry = entries[key] else { throw ModelIOError.missingTensor(key: key) }
        guard entry.shape.count == 2, entry.dtype == .bf16 || entry.dtype == .f16 else { return nil }
        let format: HalfMatrix.Format = entry.dtype == .bf16 ? .bf16 : .f16
        let base = mapping.withUnsafeBytes { $0.baseAddress! } + dataStart + entry.start
        guard Int(bitPattern: base) % 2 == 0 else { return nil }
        return HalfMatrix(rows: entry.shape[0], columns: entry.shape[1], format: format,
                          bits: base.assumingMemoryBound(to: UInt16.self), owner: self, mapped: true)
    }

    /// Lets the kernel drop the pages of `key`'s bytes from memory (they are read again from the file if
    /// touched): after a tensor is widened, its half-precision source need not stay resident beside it.
    public func release(_ key: String) {
        guard let entry = entries[key] else { return }
        mapping.withUnsafeBytes { raw in
            MappedPages.release(raw.baseAddress! + dataStart + entry.start, byteCount: entry.end - entry.start)
        }
    }

    /// The tensor converted to float32.
    public func tensor(_ key: String) throws -> Tensor {
        guard let entry = entries[key] else { throw ModelIOError.missingTensor(key: key) }
        let result = Tensor(zeros: entry.shape)
        let count = result.count
        let out = result.data
        mapping.withUnsafeBytes { raw in
            let source = raw.baseAddress! + dataStart + entry.start
            switch entry.dtype {
            case .f32:
                UnsafeMutableRawPointer(out).copyMemory(from: source, byteCount: count * 4)
            case .f16:
                for i in 0 ..< count { out[i] = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .bf16:
                for i in 0 ..< count {
                    let bits = UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
                    out[i] = Float(bitPattern: bits)
                }
            case .f64:
                for i in 0 ..< count { out[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            case .i64:
                for i in 0 ..< count { out[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
            case .i32:
                for i in 0 ..< count { out[i] = Float(source.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
            case .u8, .bool:
                for i in 0 ..< count { out[i] = Float(source.load(fromByteOffset: i, as: UInt8.self)) }
            }
        }
        return result
    }

    /// Integer tensors (token ids and the like) read exactly.
    public func integers(_ key: String) throws -> [Int] {
        guard let entry = entries[key] else { throw ModelIOError.missingTensor(key: key) }
        let count = entry.shape.reduce(1, *)
        return mapping.withUnsafeBytes { raw in
            let source = raw.baseAddress! + dataStart + entry.start
            switch entry.dtype {
            case .i64: return (0 ..< count).map { Int(source.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
            case .i32: return (0 ..< count).map { Int(source.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
            case .u8, .bool: return (0 ..< count).map { Int(source.load(fromByteOffset: $0, as: UInt8.self)) }
            default: return (0 ..< count).map { _ in 0 }
            }
        }
    }
}
