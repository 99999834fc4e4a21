import Foundation
import XCTest
@testable import Imaging

/// Preprocessing compared with transformers' CLIPImageProcessor (CLIPImageProcessorPil in 5.23).
final class CLIPImagePreprocessorTests: XCTestCase {
    /// Tolerance: 1e-6 absolute. The resampling reproduces Pillow's fixed-point arithmetic and the float
    /// steps are the same IEEE operations in the same order, so the outputs are expected to be bit-identical
    /// (measured max difference: 0 on every case). 1e-6 leaves room for a few float32 ulps (2.4e-7 near
    /// |x| = 2) and nothing more: a single uint8 step in the resize would show up as >= 1/255/0.2758 = 0.0142.
    static let tolerance: Float = 1e-6

    func testMatchesCLIPImageProcessor() throws {
        XCTAssertEqual(Fixtures.index.processorClass, "CLIPImageProcessorPil")
        XCTAssertGreaterThanOrEqual(Fixtures.index.preprocess.count, 10)
        for item in Fixtures.index.preprocess {
            let directory = item.configDirectory.map { Fixtures.directory.appendingPathComponent($0) }
                ?? Fixtures.directory  // holds no preprocessor_config.json: CLIP defaults
            let config = try ImagePreprocessorConfig.load(from: directory)
            let preprocessor = CLIPImagePreprocessor(config: config)
            let image = try ImageDecoder.decode(try Fixtures.data(item.image))
            let size = preprocessor.outputSize(width: image.width, height: image.height)
            XCTAssertEqual([3, size.height, size.width], item.shape, item.name)

            let output = preprocessor(image)
            let expected = try Fixtures.floats(item.output)
            XCTAssertEqual(output.count, expected.count, item.name)
            guard output.count == expected.count else { continue }
            var maxDifference: Float = 0
            var differing = 0
            for (a, b) in zip(output, expected) where a != b {
                maxDifference = max(maxDifference, abs(a - b))
                differing += 1
            }
            print("preprocess \(item.name): max |diff| \(maxDifference), \(differing) of \(output.count) differ")
            XCTAssertLessThanOrEqual(maxDifference, Self.tolerance, "\(item.name) (\(item.note))")
        }
    }

    func testDefaultsAreCLIPs() {
        let preprocessor = CLIPImagePreprocessor()
        XCTAssertEqual(preprocessor.outputHeight, 224)
        XCTAssertEqual(preprocessor.outputWidth, 224)
        let config = preprocessor.config
        XCTAssertEqual(config.size, .init(shortestEdge: 224))
        XCTAssertEqual(config.resample, .bicubic)
        XCTAssertEqual(config.imageMean, [0.48145466, 0.4578275, 0.40821073])
        XCTAssertEqual(config.imageStd, [0.26862954, 0.26130258, 0.27577711])
        XCTAssertEqual(config.rescaleFactor, 1.0 / 255.0)
        let output = preprocessor(RGBImage(width: 500, height: 300, red: 255, green: 128))
        XCTAssertEqual(output.count, 3 * 224 * 224)
        // A flat image stays flat through any resampling filter.
        XCTAssertEqual(output[0], (1 - Float(0.48145466)) / Float(0.26862954))
        XCTAssertEqual(output[224 * 224 * 2], (0 - Float(0.40821073)) / Float(0.27577711))
    }

    /// A window of the resize equals the same crop of the full resize, for every filter.
    func testWindowedResizeEqualsCropOfFullResize() throws {
        let image = try ImageDecoder.decode(try Fixtures.data("photo_203x157.png"))
        for filter in ResamplingFilter.allCases {
            for (width, height) in [(61, 47), (300, 210), (203, 90), (120, 157)] {
                let full = image.resized(width: width, height: height, filter: filter)
                let columns = 7..<(width - 5), rows = 3..<(height - 11)
                let window = Resampler.resize(image, width: width, height: height, filter: filter,
                                              columns: columns, rows: rows)
                var expected = [UInt8]()
                for row in rows {
                    let start = (row * width + columns.lowerBound) * 3
                    expected += full.pixels[start..<(start + columns.count * 3)]
                }
                XCTAssertEqual(window, expected, "\(filter) \(width)x\(height)")
            }
        }
        XCTAssertEqual(image.resized(width: 203, height: 157), image)
    }

    func testExtremeAspectRatiosStayBounded() {
        // 1 x 4000 with shortest edge 224 would be 224 x 896000 before the crop; only the crop is computed.
        let tall = RGBImage(width: 1, height: 4000, red: 10, green: 20, blue: 30)
        let output = CLIPImagePreprocessor()(tall)
        XCTAssertEqual(output.count, 3 * 224 * 224)
        let tiny = CLIPImagePreprocessor()(RGBImage(width: 1, height: 1, red: 255))
        XCTAssertEqual(tiny.count, 3 * 224 * 224)
    }

    func testCropOriginFollowsTransformers() {
        // (size - crop) // 2 inside; zero padding of ceil((crop - size) / 2) before when larger.
        XCTAssertEqual(CLIPImagePreprocessor.cropOrigin(size: 80, crop: 64), 8)
        XCTAssertEqual(CLIPImagePreprocessor.cropOrigin(size: 81, crop: 64), 8)
        XCTAssertEqual(CLIPImagePreprocessor.cropOrigin(size: 23, crop: 48), -13)
        XCTAssertEqual(CLIPImagePreprocessor.cropOrigin(size: 37, crop: 48), -6)
        XCTAssertEqual(CLIPImagePreprocessor.cropOrigin(size: 48, crop: 48), 0)
    }
}
