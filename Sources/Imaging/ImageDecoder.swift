import Foundation

/// What to do with transparency when an image becomes RGB.
public enum AlphaHandling: Sendable {
    /// Composite onto opaque white, exactly as transformers' `convert_to_rgb` (and so `CLIPImageProcessor`,
    /// with `do_convert_rgb`) does in transformers 5.x: Pillow's integer `alpha_composite` over white.
    /// Applies to alpha channels and to PNG tRNS transparency (palette entries, colour keys).
    case compositeOnWhite
    /// Discard alpha and tRNS and keep the stored colour, as Pillow's `Image.convert("RGB")` does.
    case drop
}

/// Decodes PNG and JPEG bytes into `RGBImage`s, matching what Pillow produces.
///
/// - PNG: 1/2/4/8-bit grey, grey+alpha, palette (with or without tRNS), RGB, RGBA, 16-bit variants of
///   each (the high byte is kept, as Pillow does for 16-bit RGB/RGBA/LA), Adam7 interlacing.
///   One deliberate difference: Pillow opens 16-bit greyscale as mode `I;16` and its `convert("RGB")`
///   clips every value above 255 to 255, turning normal 16-bit grey images white; we keep the high byte.
/// - JPEG: baseline and progressive, greyscale, YCbCr, RGB, CMYK and YCCK (CMYK converted with Pillow's
///   formula). 12-bit JPEGs are reported as unsupported. EXIF orientation is not applied (neither Pillow's
///   `Image.open` nor transformers applies it).
/// - The size is read from the header and checked against `ImageLimits` before any pixel memory is
///   allocated. Corrupt, truncated, empty and non-image input throws an `ImageError`.
public enum ImageDecoder {
    /// Decodes `data`, sniffing PNG or JPEG from its first bytes.
    public static func decode(_ data: Data, limits: ImageLimits = .default,
                              alpha: AlphaHandling = .compositeOnWhite) throws -> RGBImage {
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) throws(ImageError) -> RGBImage in
            let header = try Codecs.header(of: bytes)
            try limits.check(width: header.width, height: header.height)
            switch header.format {
            case .jpeg:
                return try Codecs.decodeJPEG(bytes, header: header)
            case .png:
                let decoded = try Codecs.decodePNG(bytes, header: header, keepAlpha: alpha == .compositeOnWhite)
                let pixels = decoded.channels == 4 ? compositeOnWhite(rgba: decoded.samples) : decoded.samples
                return RGBImage(width: header.width, height: header.height, pixels: pixels)
            }
        }
    }

    /// The image's size from its header alone; nothing is decoded and no limit is applied.
    public static func dimensions(of data: Data) throws -> (width: Int, height: Int) {
        let header = try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) throws(ImageError) in
            try Codecs.header(of: bytes)
        }
        return (header.width, header.height)
    }

    /// The encoded format of `data`, from its magic bytes.
    public static func format(of data: Data) throws -> ImageFormat {
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) throws(ImageError) in
            try ImageFormat.detect(bytes)
        }
    }

    /// Pillow's `alpha_composite(white, image)` followed by `convert("RGB")`, in its integer arithmetic
    /// (AlphaComposite.c: 7 extra bits of precision, division by 255 as `((v >> 8) + v) >> 8`).
    static func compositeOnWhite(rgba: [UInt8]) -> [UInt8] {
        let pixelCount = rgba.count / 4
        let precisionBits: UInt32 = 7
        let background: UInt32 = 255
        let backgroundAlpha: UInt32 = 255
        return [UInt8](unsafeUninitializedCapacity: pixelCount * 3) { out, initialized in
            rgba.withUnsafeBufferPointer { source in
                for pixel in 0..<pixelCount {
                    let alpha = UInt32(source[pixel * 4 + 3])
                    for channel in 0..<3 {
                        let value = UInt32(source[pixel * 4 + channel])
                        let result: UInt32
                        if alpha == 0 {
                            result = background
                        } else {
                            let blend = backgroundAlpha * (255 - alpha)
                            let outAlpha255 = alpha * 255 + blend
                            let coefficient1 = alpha * 255 * 255 * (1 << precisionBits) / outAlpha255
                            let coefficient2 = 255 * (1 << precisionBits) - coefficient1
                            let mixed = value * coefficient1 + background * coefficient2 + (0x80 << precisionBits)
                            result = (((mixed >> 8) + mixed) >> 8) >> precisionBits
                        }
                        out[pixel * 3 + channel] = UInt8(truncatingIfNeeded: result)
                    }
                }
            }
            initialized = pixelCount * 3
        }
    }
}
