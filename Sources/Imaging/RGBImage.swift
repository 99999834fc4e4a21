/// An 8-bit RGB image: `pixels` holds `width * height * 3` bytes, interleaved R, G, B, rows top to bottom.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Interleaved RGB, row-major. Mutate the values freely, but keep the count at `width * height * 3`.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "image dimensions must be positive, got \(width)x\(height)")
        precondition(pixels.count == width * height * 3,
                     "\(width)x\(height) RGB needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A solid-colour image.
    public init(width: Int, height: Int, red: UInt8 = 0, green: UInt8 = 0, blue: UInt8 = 0) {
        precondition(width > 0 && height > 0, "image dimensions must be positive, got \(width)x\(height)")
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for index in stride(from: 0, to: pixels.count, by: 3) {
            pixels[index] = red
            pixels[index + 1] = green
            pixels[index + 2] = blue
        }
        self.init(width: width, height: height, pixels: pixels)
    }
}

/// Limits on what the decoder accepts, checked against the file header before any pixel memory is
/// allocated, so a small file that claims a huge image (a decompression bomb) costs nothing.
public struct ImageLimits: Sendable, Equatable {
    public var maxWidth: Int
    public var maxHeight: Int
    /// Upper bound on `width * height`; decoding needs about 3 bytes per pixel (4 for PNGs with alpha).
    public var maxPixels: Int

    public init(maxWidth: Int, maxHeight: Int, maxPixels: Int) {
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        self.maxPixels = maxPixels
    }

    /// 8192 x 8192 and 40 megapixels: any photo a phone takes, at most ~160 MB while decoding.
    public static let `default` = ImageLimits(maxWidth: 8192, maxHeight: 8192, maxPixels: 40_000_000)

    /// Throws `ImageError.tooLarge` when an image of this size is over a limit.
    public func check(width: Int, height: Int) throws(ImageError) {
        if width > maxWidth {
            throw .tooLarge(width: width, height: height, limit: "width at most \(maxWidth)")
        }
        if height > maxHeight {
            throw .tooLarge(width: width, height: height, limit: "height at most \(maxHeight)")
        }
        // Both factors are at most Int32.max here (the formats store 16/31-bit sizes), so no overflow.
        if width * height > maxPixels {
            throw .tooLarge(width: width, height: height, limit: "at most \(maxPixels) pixels")
        }
    }
}
