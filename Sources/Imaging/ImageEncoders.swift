import CImageCodecs
import Foundation

/// Writes `RGBImage`s as PNG (8-bit RGB, non-interlaced, zlib level 6) through libpng.
public enum PNGEncoder {
    /// The PNG file for `image`. Encoding in memory cannot fail on valid input; running out of memory
    /// stops the process like any other allocation failure.
    public static func encode(_ image: RGBImage) -> Data {
        encoded(image, format: "PNG") { pixels, output, size, message, capacity in
            mneme_png_encode_rgb(pixels, Int32(image.width), Int32(image.height), output, size, message, capacity)
        }
    }
}

/// Writes `RGBImage`s as baseline JPEG (4:2:0 chroma subsampling) through libjpeg.
public enum JPEGEncoder {
    /// The JPEG file for `image` at `quality` (1...100, libjpeg's scale). Dimensions must be at most 65500.
    public static func encode(_ image: RGBImage, quality: Int = 90) -> Data {
        precondition(image.width <= 65500 && image.height <= 65500, "JPEG dimensions are limited to 65500")
        let clamped = Int32(min(max(quality, 1), 100))
        return encoded(image, format: "JPEG") { pixels, output, size, message, capacity in
            mneme_jpeg_encode_rgb(pixels, Int32(image.width), Int32(image.height), clamped, output, size,
                                  message, capacity)
        }
    }
}

private func encoded(
    _ image: RGBImage, format: String,
    _ encode: (UnsafePointer<UInt8>, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>,
               UnsafeMutablePointer<CChar>, Int) -> mneme_codec_status
) -> Data {
    precondition(image.pixels.count == image.width * image.height * 3, "RGBImage pixel count does not match its size")
    var output: UnsafeMutablePointer<UInt8>?
    var size = 0
    var message = [CChar](repeating: 0, count: 256)
    let status = image.pixels.withUnsafeBufferPointer { pixels in
        message.withUnsafeMutableBufferPointer { text in
            encode(pixels.baseAddress!, &output, &size, text.baseAddress!, text.count)
        }
    }
    guard status == MNEME_CODEC_OK, let output else {
        let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        fatalError("\(format) encoding failed: \(text)")
    }
    defer { mneme_codec_free(output) }
    return Data(bytes: output, count: size)
}
