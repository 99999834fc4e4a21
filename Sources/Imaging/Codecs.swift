import CImageCodecs

/// What a file's header says, read without decoding pixels.
struct ImageHeader: Sendable, Equatable {
    var format: ImageFormat
    var width: Int
    var height: Int
    /// PNG with an alpha channel or a tRNS chunk.
    var hasAlpha: Bool
}

/// Calls into the C shims (Sources/CImageCodecs), which catch libjpeg's and libpng's longjmp-based errors
/// and hand back a status and a message instead.
enum Codecs {
    private static let messageCapacity = 256

    /// Runs `body` with a message buffer and turns a failure status into an `ImageError`.
    private static func call(_ format: ImageFormat,
                             _ body: (UnsafeMutablePointer<CChar>, Int) -> mneme_codec_status) throws(ImageError) {
        var message = [CChar](repeating: 0, count: messageCapacity)
        let status = message.withUnsafeMutableBufferPointer { buffer in
            body(buffer.baseAddress!, buffer.count)
        }
        if status == MNEME_CODEC_OK {
            return
        }
        let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let detail = "\(format.rawValue): \(text.isEmpty ? "unknown error" : text)"
        switch status {
        case MNEME_CODEC_TRUNCATED: throw .truncated(detail)
        case MNEME_CODEC_CORRUPT: throw .corrupt(detail)
        case MNEME_CODEC_UNSUPPORTED: throw .unsupportedFormat(detail)
        default: throw .codecFailure(detail)
        }
    }

    static func header(of bytes: UnsafeRawBufferPointer) throws(ImageError) -> ImageHeader {
        let format = try ImageFormat.detect(bytes)
        let data = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var header = mneme_image_header()
        try call(format) { message, capacity in
            switch format {
            case .jpeg: mneme_jpeg_read_header(data, bytes.count, &header, message, capacity)
            case .png: mneme_png_read_header(data, bytes.count, &header, message, capacity)
            }
        }
        guard header.width > 0, header.height > 0 else {
            throw .corrupt("\(format.rawValue): header declares a \(header.width)x\(header.height) image")
        }
        return ImageHeader(format: format, width: Int(header.width), height: Int(header.height),
                           hasAlpha: header.has_alpha != 0)
    }

    /// Most scans a JPEG may have. Encoders write at most a few dozen (libjpeg's progressive default is
    /// 10); thousands of tiny scans are a denial-of-service pattern (libjpeg-turbo's advice is to cap them).
    static let jpegMaxScans = 1000

    /// Decodes to RGB; the caller has checked the header's size against its limits.
    static func decodeJPEG(_ bytes: UnsafeRawBufferPointer, header: ImageHeader,
                           maxScans: Int = jpegMaxScans) throws(ImageError) -> RGBImage {
        let data = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let count = header.width * header.height * 3
        var failure: ImageError?
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(ImageError) {
                try call(.jpeg) { message, capacity in
                    mneme_jpeg_decode_rgb(data, bytes.count, Int32(header.width), Int32(header.height),
                                          Int32(maxScans), buffer.baseAddress!, count, message, capacity)
                }
                initialized = count
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure {
            throw failure
        }
        return RGBImage(width: header.width, height: header.height, pixels: pixels)
    }

    /// Decodes to interleaved RGB (`channels == 3`) or, when `keepAlpha` and the image has alpha, RGBA.
    static func decodePNG(_ bytes: UnsafeRawBufferPointer, header: ImageHeader,
                          keepAlpha: Bool) throws(ImageError) -> (samples: [UInt8], channels: Int) {
        let data = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let channels = keepAlpha && header.hasAlpha ? 4 : 3
        let count = header.width * header.height * channels
        var failure: ImageError?
        var produced: Int32 = 0
        let samples = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(ImageError) {
                try call(.png) { message, capacity in
                    mneme_png_decode(data, bytes.count, Int32(header.width), Int32(header.height),
                                     keepAlpha ? 1 : 0, buffer.baseAddress!, count, &produced, message, capacity)
                }
                initialized = count
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure {
            throw failure
        }
        guard Int(produced) == channels else {
            throw .codecFailure("PNG: decoder produced \(produced) channels, expected \(channels)")
        }
        return (samples, channels)
    }
}
