import Foundation

/// Pillow's resampling filters, numbered as `PIL.Image.Resampling` (and transformers' `PILImageResampling`,
/// the `resample` value in `preprocessor_config.json`).
public enum ResamplingFilter: Int, Sendable, Codable, CaseIterable {
    case nearest = 0
    case lanczos = 1
    case bilinear = 2
    case bicubic = 3
    case box = 4
    case hamming = 5

    /// Half-width of the kernel at scale 1 (Resample.c's `support`).
    var support: Double {
        switch self {
        case .nearest: return 0
        case .box: return 0.5
        case .bilinear, .hamming: return 1
        case .bicubic: return 2
        case .lanczos: return 3
        }
    }

    /// The kernel, with Resample.c's constants and branch boundaries (results must match bit for bit).
    func weight(_ argument: Double) -> Double {
        var x = argument
        switch self {
        case .nearest:
            return 0
        case .box:
            return x > -0.5 && x <= 0.5 ? 1 : 0
        case .bilinear:
            if x < 0 { x = -x }
            return x < 1 ? 1 - x : 0
        case .hamming:
            if x < 0 { x = -x }
            if x == 0 { return 1 }
            if x >= 1 { return 0 }
            x *= Double.pi
            // Pillow writes 0.54f and 0.46f: float constants, widened to double.
            return sin(x) / x * (Double(Float(0.54)) + Double(Float(0.46)) * cos(x))
        case .bicubic:
            let a = -0.5  // Keys' cubic convolution with a = -0.5
            if x < 0 { x = -x }
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        case .lanczos:
            guard -3 <= x && x < 3 else { return 0 }
            return Self.sinc(x) * Self.sinc(x / 3)
        }
    }

    private static func sinc(_ value: Double) -> Double {
        if value == 0 { return 1 }
        let x = value * Double.pi
        return sin(x) / x
    }
}

/// Pillow's convolution resampling for 8-bit images (libImaging/Resample.c), reproduced exactly: per output
/// position a window of filter taps, normalised, converted to 22-bit fixed point; a horizontal pass then a
/// vertical pass, each rounding to uint8. Downscaling widens the kernel by the scale factor (antialiasing).
struct Resampler {
    /// Fraction bits of the fixed-point weights: 32 - 8 - 2, leaving room for 8-bit samples and overshoot.
    static let precisionBits = 22

    /// One axis' taps: output `i` reads inputs `start[i] ..< start[i] + count[i]` with
    /// `weights[i * kernelSize ..< i * kernelSize + count[i]]`.
    struct Axis {
        var kernelSize: Int
        var start: [Int]
        var count: [Int]
        var weights: [Int32]
    }

    /// Resample.c's `precompute_coeffs` (box = whole input) followed by `normalize_coeffs_8bpc`.
    static func axis(inputSize: Int, outputSize: Int, filter: ResamplingFilter) -> Axis {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let kernelSize = Int(support.rounded(.up)) * 2 + 1
        let inverseFilterScale = 1 / filterScale
        let one = Double(1 << precisionBits)

        var starts = [Int](repeating: 0, count: outputSize)
        var counts = [Int](repeating: 0, count: outputSize)
        var weights = [Int32](repeating: 0, count: outputSize * kernelSize)
        var taps = [Double](repeating: 0, count: kernelSize)
        for output in 0..<outputSize {
            let center = (Double(output) + 0.5) * scale
            // C's (int) cast truncates toward zero; so does Int(_:).
            let first = max(Int(center - support + 0.5), 0)
            let count = min(Int(center + support + 0.5), inputSize) - first
            var total = 0.0
            for tap in 0..<count {
                let weight = filter.weight((Double(tap + first) - center + 0.5) * inverseFilterScale)
                taps[tap] = weight
                total += weight
            }
            for tap in 0..<count {
                let normalised = total != 0 ? taps[tap] / total : taps[tap]
                weights[output * kernelSize + tap] =
                    Int32(normalised < 0 ? -0.5 + normalised * one : 0.5 + normalised * one)
            }
            starts[output] = first
            counts[output] = count
        }
        return Axis(kernelSize: kernelSize, start: starts, count: counts, weights: weights)
    }

    @inline(__always)
    static func clip8(_ accumulator: Int) -> UInt8 {
        let value = accumulator >> precisionBits
        return value <= 0 ? 0 : (value >= 255 ? 255 : UInt8(value))
    }

    /// Resizes `image` to `width` x `height` like Pillow's `Image.resize` (without `reducing_gap`) and
    /// returns only the output pixels in `columns` x `rows` (interleaved RGB, `columns.count * 3` per row).
    /// Every output pixel depends only on its own taps, so a window is exactly the crop of the full result.
    static func resize(_ image: RGBImage, width: Int, height: Int, filter: ResamplingFilter,
                       columns: Range<Int>, rows: Range<Int>) -> [UInt8] {
        precondition(width > 0 && height > 0, "resize target must be positive, got \(width)x\(height)")
        precondition(columns.lowerBound >= 0 && columns.upperBound <= width
                     && rows.lowerBound >= 0 && rows.upperBound <= height, "window outside the resized image")
        if columns.isEmpty || rows.isEmpty {
            return []
        }
        if filter == .nearest {
            return nearest(image, width: width, height: height, columns: columns, rows: rows)
        }
        let needHorizontal = width != image.width
        let needVertical = height != image.height
        let vertical = needVertical ? axis(inputSize: image.height, outputSize: height, filter: filter) : nil

        // Input rows the vertical pass will read.
        var firstRow = rows.lowerBound
        var endRow = rows.upperBound
        if let vertical {
            firstRow = rows.map { vertical.start[$0] }.min()!
            endRow = rows.map { vertical.start[$0] + vertical.count[$0] }.max()!
        }

        // Horizontal pass (or a plain copy of the window's columns) over rows firstRow..<endRow.
        let windowWidth = columns.count
        let rowStride = windowWidth * 3
        var intermediate = [UInt8](repeating: 0, count: (endRow - firstRow) * rowStride)
        let half = 1 << (precisionBits - 1)
        image.pixels.withUnsafeBufferPointer { source in
            intermediate.withUnsafeMutableBufferPointer { target in
                if needHorizontal {
                    let horizontal = axis(inputSize: image.width, outputSize: width, filter: filter)
                    horizontal.weights.withUnsafeBufferPointer { weights in
                        for row in firstRow..<endRow {
                            let input = row * image.width * 3
                            var output = (row - firstRow) * rowStride
                            for column in columns {
                                let start = horizontal.start[column]
                                let taps = column * horizontal.kernelSize
                                var red = half, green = half, blue = half
                                for tap in 0..<horizontal.count[column] {
                                    let weight = Int(weights[taps + tap])
                                    let pixel = input + (start + tap) * 3
                                    red += Int(source[pixel]) * weight
                                    green += Int(source[pixel + 1]) * weight
                                    blue += Int(source[pixel + 2]) * weight
                                }
                                target[output] = clip8(red)
                                target[output + 1] = clip8(green)
                                target[output + 2] = clip8(blue)
                                output += 3
                            }
                        }
                    }
                } else {
                    for row in firstRow..<endRow {
                        let input = (row * image.width + columns.lowerBound) * 3
                        let output = (row - firstRow) * rowStride
                        for offset in 0..<rowStride {
                            target[output + offset] = source[input + offset]
                        }
                    }
                }
            }
        }
        guard let vertical else {
            return intermediate  // rows == firstRow..<endRow
        }

        // Vertical pass, one output row at a time, accumulating whole input rows.
        var result = [UInt8](repeating: 0, count: rows.count * rowStride)
        var accumulator = [Int](repeating: 0, count: rowStride)
        intermediate.withUnsafeBufferPointer { source in
            vertical.weights.withUnsafeBufferPointer { weights in
                result.withUnsafeMutableBufferPointer { target in
                    accumulator.withUnsafeMutableBufferPointer { sums in
                        for row in rows {
                            for index in 0..<rowStride { sums[index] = half }
                            let start = vertical.start[row] - firstRow
                            let taps = row * vertical.kernelSize
                            for tap in 0..<vertical.count[row] {
                                let weight = Int(weights[taps + tap])
                                let input = (start + tap) * rowStride
                                for index in 0..<rowStride {
                                    sums[index] += Int(source[input + index]) * weight
                                }
                            }
                            let output = (row - rows.lowerBound) * rowStride
                            for index in 0..<rowStride {
                                target[output + index] = clip8(sums[index])
                            }
                        }
                    }
                }
            }
        }
        return result
    }

    /// Pillow's nearest-neighbour resize: an affine scale (Geometry.c `ImagingScaleAffine`) whose source
    /// coordinate starts at half a step and is advanced by repeated addition, so the rounding matches too.
    static func nearest(_ image: RGBImage, width: Int, height: Int,
                        columns: Range<Int>, rows: Range<Int>) -> [UInt8] {
        func sourceIndices(inputSize: Int, outputSize: Int) -> [Int] {
            let step = Double(inputSize) / Double(outputSize)
            var position = step * 0.5
            var indices = [Int](repeating: -1, count: outputSize)
            for output in 0..<outputSize {
                let index = position < 0 ? -1 : Int(position)
                if index < inputSize { indices[output] = index }
                position += step
            }
            return indices
        }
        let sourceColumns = sourceIndices(inputSize: image.width, outputSize: width)
        let sourceRows = sourceIndices(inputSize: image.height, outputSize: height)
        var result = [UInt8](repeating: 0, count: rows.count * columns.count * 3)
        var output = 0
        for row in rows {
            for column in columns {
                let y = sourceRows[row], x = sourceColumns[column]
                if x >= 0 && y >= 0 {
                    let input = (y * image.width + x) * 3
                    result[output] = image.pixels[input]
                    result[output + 1] = image.pixels[input + 1]
                    result[output + 2] = image.pixels[input + 2]
                }
                output += 3
            }
        }
        return result
    }
}

extension RGBImage {
    /// This image resized to `width` x `height` exactly as Pillow's `Image.resize((width, height), filter)`
    /// does for an RGB image (the step transformers' image processors take).
    public func resized(width: Int, height: Int, filter: ResamplingFilter = .bicubic) -> RGBImage {
        let pixels = Resampler.resize(self, width: width, height: height, filter: filter,
                                      columns: 0..<width, rows: 0..<height)
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
