/// Turns an `RGBImage` into CLIP's input tensor the way transformers' `CLIPImageProcessor` does.
///
/// transformers 5.23 without torchvision resolves `CLIPImageProcessor` (and `AutoImageProcessor`) to
/// `CLIPImageProcessorPil`, the PIL/NumPy backend; this reproduces it step by step:
/// 1. resize with Pillow's resampling (`Image.resize`, uint8 rounding after each of its two passes),
/// 2. centre crop to `crop_size`, zero-padding when the image is smaller (`image_transforms.center_crop`),
/// 3. rescale: `float32(float64(pixel) * rescale_factor)`,
/// 4. normalise in float32: `(x - float32(mean)) / float32(std)`,
/// giving channels-first float32 `(3, H, W)`. Results match the reference exactly (the tests compare
/// bit-level up to float32 rounding). RGB conversion (`do_convert_rgb`) happens in `ImageDecoder`.
public struct CLIPImagePreprocessor: Sendable {
    public let config: ImagePreprocessorConfig
    /// Per channel, the output value of each uint8 input (rescale and normalise are pointwise).
    private let lookup: [[Float]]

    public init(config: ImagePreprocessorConfig = ImagePreprocessorConfig()) {
        if let problem = config.validationProblem {
            preconditionFailure("invalid ImagePreprocessorConfig: \(problem)")
        }
        self.config = config
        lookup = (0..<3).map { channel in
            let mean = Float(config.imageMean[channel])
            let std = Float(config.imageStd[channel])
            return (0...255).map { (byte: Int) -> Float in
                var value = config.doRescale ? Float(Double(byte) * config.rescaleFactor) : Float(byte)
                if config.doNormalize {
                    value = (value - mean) / std
                }
                return value
            }
        }
    }

    /// Output height when it does not depend on the input (a crop, or a fixed height x width resize);
    /// otherwise the configured shortest edge, and `outputSize(width:height:)` gives the real size.
    public var outputHeight: Int { nominalOutputSize.height }
    public var outputWidth: Int { nominalOutputSize.width }

    private var nominalOutputSize: (height: Int, width: Int) {
        if config.doCenterCrop, let height = config.cropSize.height, let width = config.cropSize.width {
            return (height, width)
        }
        let size = config.size
        if let height = size.height, let width = size.width {
            return (height, width)
        }
        let edge = size.shortestEdge ?? max(size.maxHeight ?? 0, size.maxWidth ?? 0)
        return (edge, edge)
    }

    /// The `(height, width)` of the output for an input of this size.
    public func outputSize(width: Int, height: Int) -> (height: Int, width: Int) {
        if config.doCenterCrop, let cropHeight = config.cropSize.height, let cropWidth = config.cropSize.width {
            return (cropHeight, cropWidth)
        }
        return resizedSize(width: width, height: height)
    }

    /// The size the resize step produces (transformers' PIL backend `resize`), at least 1 x 1.
    func resizedSize(width: Int, height: Int) -> (height: Int, width: Int) {
        guard config.doResize else { return (height, width) }
        let size = config.size
        let target: (height: Int, width: Int)
        if let shortest = size.shortestEdge, let longest = size.longestEdge {
            target = Self.sizeWithAspectRatio(height: height, width: width, size: shortest, maxSize: longest)
        } else if let shortest = size.shortestEdge {
            // get_resize_output_image_size(default_to_square=False): int(size * long / short).
            let (short, long) = width <= height ? (width, height) : (height, width)
            let newLong = Int(Double(shortest * long) / Double(short))
            target = width <= height ? (newLong, shortest) : (shortest, newLong)
        } else if let maxHeight = size.maxHeight, let maxWidth = size.maxWidth {
            // get_image_size_for_max_height_width.
            let scale = min(Double(maxHeight) / Double(height), Double(maxWidth) / Double(width))
            target = (Int(Double(height) * scale), Int(Double(width) * scale))
        } else {
            target = (size.height!, size.width!)  // validated: height and width are set
        }
        // Pillow refuses a zero-sized resize; a 1-pixel edge keeps extreme aspect ratios working.
        return (max(target.height, 1), max(target.width, 1))
    }

    /// transformers' `get_size_with_aspect_ratio`: shortest edge `size`, longest edge capped at `maxSize`.
    static func sizeWithAspectRatio(height: Int, width: Int, size requested: Int,
                                    maxSize: Int) -> (height: Int, width: Int) {
        var size = requested
        var rawSize: Double?
        let minOriginal = Double(min(height, width))
        let maxOriginal = Double(max(height, width))
        if maxOriginal / minOriginal * Double(size) > Double(maxSize) {
            let raw = Double(maxSize) * minOriginal / maxOriginal
            rawSize = raw
            size = Int(raw.rounded(.toNearestOrEven))  // Python's round()
        }
        if (height <= width && height == size) || (width <= height && width == size) {
            return (height, width)
        }
        if width < height {
            let newHeight = rawSize.map { Int($0 * Double(height) / Double(width)) }
                ?? Int(Double(size * height) / Double(width))
            return (newHeight, size)
        }
        let newWidth = rawSize.map { Int($0 * Double(width) / Double(height)) }
            ?? Int(Double(size * width) / Double(height))
        return (size, newWidth)
    }

    /// Where output index 0 falls in the input along one axis, for transformers' `center_crop`
    /// (`(size - crop) // 2`, or after padding by `ceil((crop - size) / 2)` when the crop is larger).
    static func cropOrigin(size: Int, crop: Int) -> Int {
        let start = Int((Double(size - crop) / 2).rounded(.down))
        if start >= 0 && start + crop <= size {
            return start
        }
        let padding = (max(crop, size) - size + 1) / 2
        return max(0, start + padding) - padding
    }

    /// The uint8 image after resizing and cropping (before rescale and normalisation).
    public func resizedAndCropped(_ image: RGBImage) -> RGBImage {
        let (resizedHeight, resizedWidth) = resizedSize(width: image.width, height: image.height)
        let (outputHeight, outputWidth) = outputSize(width: image.width, height: image.height)
        // Output pixel (row, column) comes from resized pixel (row + top, column + left), or is padding.
        let top = config.doCenterCrop ? Self.cropOrigin(size: resizedHeight, crop: outputHeight) : 0
        let left = config.doCenterCrop ? Self.cropOrigin(size: resizedWidth, crop: outputWidth) : 0
        let rows = max(top, 0)..<min(top + outputHeight, resizedHeight)
        let columns = max(left, 0)..<min(left + outputWidth, resizedWidth)

        // Only the part of the resized image that survives the crop is computed.
        let window: [UInt8]
        if rows.isEmpty || columns.isEmpty {
            window = []
        } else if resizedWidth == image.width && resizedHeight == image.height {
            window = Self.copyWindow(image, columns: columns, rows: rows)
        } else {
            window = Resampler.resize(image, width: resizedWidth, height: resizedHeight, filter: config.resample,
                                      columns: columns, rows: rows)
        }
        if rows.count == outputHeight && columns.count == outputWidth {
            return RGBImage(width: outputWidth, height: outputHeight, pixels: window)
        }
        var pixels = [UInt8](repeating: 0, count: outputWidth * outputHeight * 3)
        let rowBytes = columns.count * 3
        for (index, row) in rows.enumerated() {
            let target = ((row - top) * outputWidth + (columns.lowerBound - left)) * 3
            pixels.replaceSubrange(target..<(target + rowBytes),
                                   with: window[(index * rowBytes)..<((index + 1) * rowBytes)])
        }
        return RGBImage(width: outputWidth, height: outputHeight, pixels: pixels)
    }

    private static func copyWindow(_ image: RGBImage, columns: Range<Int>, rows: Range<Int>) -> [UInt8] {
        var window = [UInt8]()
        window.reserveCapacity(rows.count * columns.count * 3)
        for row in rows {
            let start = (row * image.width + columns.lowerBound) * 3
            window.append(contentsOf: image.pixels[start..<(start + columns.count * 3)])
        }
        return window
    }

    /// The preprocessed image, channels-first float32 `(3, H, W)` as a flat array.
    public func callAsFunction(_ image: RGBImage) -> [Float] {
        let cropped = resizedAndCropped(image)
        let planeSize = cropped.width * cropped.height
        var output = [Float](repeating: 0, count: 3 * planeSize)
        cropped.pixels.withUnsafeBufferPointer { pixels in
            output.withUnsafeMutableBufferPointer { planes in
                for channel in 0..<3 {
                    let table = lookup[channel]
                    let plane = channel * planeSize
                    for index in 0..<planeSize {
                        planes[plane + index] = table[Int(pixels[index * 3 + channel])]
                    }
                }
            }
        }
        return output
    }
}
