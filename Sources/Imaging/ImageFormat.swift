/// The encoded formats the decoder reads, recognised by their magic bytes (never by file name or MIME type).
public enum ImageFormat: String, Sendable {
    case png = "PNG"
    case jpeg = "JPEG"

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    static let jpegSignature: [UInt8] = [0xFF, 0xD8, 0xFF]

    /// Identifies `bytes` as PNG or JPEG, or says what else it looks like.
    static func detect(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> ImageFormat {
        if bytes.isEmpty {
            throw .empty
        }
        for (format, signature) in [(ImageFormat.png, pngSignature), (.jpeg, jpegSignature)] {
            if bytes.count >= signature.count {
                if bytes.prefix(signature.count).elementsEqual(signature) {
                    return format
                }
            } else if bytes.elementsEqual(signature.prefix(bytes.count)) {
                throw .truncated("\(format.rawValue) data ends inside the signature (\(bytes.count) bytes)")
            }
        }
        throw .unsupportedFormat(describeUnknown(bytes))
    }

    /// Names common formats we do not decode, so the error message is useful to whoever sent the file.
    private static func describeUnknown(_ bytes: UnsafeRawBufferPointer) -> String {
        func starts(with ascii: String, at offset: Int = 0) -> Bool {
            let pattern = Array(ascii.utf8)
            return bytes.count >= offset + pattern.count
                && bytes[offset..<(offset + pattern.count)].elementsEqual(pattern)
        }
        if starts(with: "GIF87a") || starts(with: "GIF89a") { return "GIF" }
        if starts(with: "RIFF") && starts(with: "WEBP", at: 8) { return "WebP" }
        if starts(with: "II*\0") || starts(with: "MM\0*") { return "TIFF" }
        if starts(with: "ftypavif", at: 4) { return "AVIF" }
        if starts(with: "ftyphei", at: 4) || starts(with: "ftypmif1", at: 4) { return "HEIF" }
        if starts(with: "BM") && bytes.count >= 14 { return "BMP" }
        if starts(with: "%PDF") { return "PDF" }
        if starts(with: "<?xml") || starts(with: "<svg") { return "SVG/XML" }
        let head = bytes.prefix(8).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }
        return "unknown data starting with \(head.joined(separator: " "))"
    }
}
