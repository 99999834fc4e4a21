import Foundation
import Tensor

/// Writes float32 safetensors files atomically: a temporary file in the same directory, fsync, rename, fsync the directory.
public enum SafeTensorsWriter {
    public enum Storage: String, Sendable { case f32 = "F32", f16 = "F16", bf16 = "BF16" }

    public static func write(_ tensors: [String: Tensor], to url: URL, metadata: [String: String] = [:], as storage: Storage = .f32) throws {
        let keys = tensors.keys.sorted()
        let elementSize = storage == .f32 ? 4 : 2
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for key in keys {
            let tensor = tensors[key]!
            let bytes = tensor.count * elementSize
            header[key] = ["dtype": storage.rawValue, "shape": tensor.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var headerData = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        while (8 + headerData.count) % 8 != 0 { headerData.append(0x20) }
        var file = Data(capacity: 8 + headerData.count + offset)
        withUnsafeBytes(of: UInt64(headerData.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(headerData)
        for key in keys {
            let tensor = tensors[key]!
            switch storage {
            case .f32:
                file.append(UnsafeBufferPointer(start: tensor.data, count: tensor.count))
            case .f16:
                var half = [UInt16](repeating: 0, count: tensor.count)
                for i in 0 ..< tensor.count { half[i] = Float16(tensor.data[i]).bitPattern.littleEndian }
                half.withUnsafeBytes { file.append(contentsOf: $0) }
            case .bf16:
                var half = [UInt16](repeating: 0, count: tensor.count)
                for i in 0 ..< tensor.count { half[i] = bfloat16Bits(tensor.data[i]).littleEndian }
                half.withUnsafeBytes { file.append(contentsOf: $0) }
            }
        }
        try AtomicFile.write(file, to: url)
    }

    /// Round to nearest even, as torch does when casting to bfloat16.
    static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return 0x7FC0 }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}

/// Crash-safe file replacement.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ModelIOError.writeFailed(path: url.path, reason: String(cString: strerror(errno))) }
        var failure: String?
        data.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno)); return
                }
                written += n
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if let failure {
            unlink(temporary.path)
            throw ModelIOError.writeFailed(path: url.path, reason: failure)
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw ModelIOError.writeFailed(path: url.path, reason: reason)
        }
        syncDirectory(directory)
    }

    public static func syncDirectory(_ directory: URL) {
        let fd = open(directory.path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}
