import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A request body too large to hold in memory while it arrives: written as it comes to a file that has no
/// name (unlinked as soon as it is made, so a crash leaves nothing behind), and handed to the handler mapped
/// read-only. A hundred slow uploads then hold disk, not memory; only a body being handled is paged in.
/// Touched only on the connection's MHD thread until the request is complete.
final class BodySpool: @unchecked Sendable {
    private var descriptor: Int32
    private(set) var count = 0

    /// A new empty spool file in `directory`, or nil if none can be made there.
    init?(directory: String) {
        var template = Array((directory + "/body-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { return nil }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        self.descriptor = descriptor
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Appends `bytes`; false when the file cannot take them (disk full).
    func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        count += bytes.count
        return true
    }

    func append(_ data: Data) -> Bool { data.withUnsafeBytes { append($0) } }

    /// The whole body, mapped from the file (the mapping outlives the file's descriptor, which this closes).
    func body() -> Data? {
        defer { close(descriptor); descriptor = -1 }
        guard count > 0 else { return Data() }
        guard let mapped = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED else { return nil }
        return Data(bytesNoCopy: mapped, count: count, deallocator: .custom { pointer, length in _ = munmap(pointer, length) })
    }
}
