import Foundation
import XCTest
@testable import Imaging

/// Decoding compared with Pillow's pixels (scripts/fixtures_images.py).
final class ImageDecoderTests: XCTestCase {
    /// Largest per-sample difference, and how many samples differ.
    private func compare(_ actual: [UInt8], _ expected: [UInt8]) -> (maxDifference: Int, differing: Int) {
        XCTAssertEqual(actual.count, expected.count)
        var maxDifference = 0, differing = 0
        for (a, b) in zip(actual, expected) where a != b {
            maxDifference = max(maxDifference, abs(Int(a) - Int(b)))
            differing += 1
        }
        return (maxDifference, differing)
    }

    /// PNG must match Pillow exactly (tolerance 0 in the index). JPEG is decoded by the system's
    /// libjpeg-turbo 2.1 and by Pillow's bundled libjpeg-turbo 3.x: same ISLOW IDCT and fancy upsampling,
    /// so they agree exactly in practice; the index allows 1 step for JPEG in case a build differs.
    func testDecodesLikePillowWithBothAlphaModes() throws {
        XCTAssertFalse(Fixtures.index.decode.isEmpty)
        for item in Fixtures.index.decode {
            let data = try Fixtures.data(item.file)
            for (mode, expectedFile) in [(AlphaHandling.drop, item.expectedDropAlpha),
                                         (.compositeOnWhite, item.expectedComposite)] {
                let image: RGBImage
                do {
                    image = try ImageDecoder.decode(data, alpha: mode)
                } catch {
                    XCTFail("\(item.file) (\(item.note)), \(mode): \(error)")
                    continue
                }
                XCTAssertEqual(image.width, item.width, item.file)
                XCTAssertEqual(image.height, item.height, item.file)
                let result = compare(image.pixels, try Fixtures.bytes(expectedFile))
                XCTAssertLessThanOrEqual(result.maxDifference, item.tolerance,
                                         "\(item.file) (\(item.note)), \(mode): \(result.differing) samples differ")
                if result.differing > 0 {
                    print("\(item.file) \(mode): max difference \(result.maxDifference) in \(result.differing) samples")
                }
            }
        }
    }

    /// Every (value, alpha) pair through the white compositing, against transformers' convert_to_rgb.
    func testCompositingMatchesTransformersForEveryValueAndAlpha() throws {
        let pairs = Fixtures.index.alphaPairs
        let image = try ImageDecoder.decode(try Fixtures.data(pairs.file), alpha: .compositeOnWhite)
        let expected = try ImageDecoder.decode(try Fixtures.data(pairs.expectedCompositePng))
        XCTAssertEqual(image.width, 256)
        XCTAssertEqual(image.height, 256)
        XCTAssertEqual(compare(image.pixels, expected.pixels).differing, 0)
        // Fully transparent pixels become white, fully opaque ones keep their colour.
        XCTAssertEqual(Array(image.pixels[0..<3]), [255, 255, 255])
        let opaque = (255 * 256 + 10) * 3
        XCTAssertEqual(Array(image.pixels[opaque..<(opaque + 3)]), [10, 245, UInt8((70 + 255) & 255)])
    }

    func testDimensionsAndFormatComeFromTheHeader() throws {
        for item in Fixtures.index.decode {
            let data = try Fixtures.data(item.file)
            let size = try ImageDecoder.dimensions(of: data)
            XCTAssertEqual(size.width, item.width, item.file)
            XCTAssertEqual(size.height, item.height, item.file)
            let format = try ImageDecoder.format(of: data)
            XCTAssertEqual(format, item.file.hasSuffix(".png") ? .png : .jpeg, item.file)
        }
        // The bomb's header is readable; only decoding it is refused.
        let bomb = try ImageDecoder.dimensions(of: try Fixtures.data("bomb_100000x100000.png"))
        XCTAssertEqual(bomb.width, 100_000)
        XCTAssertEqual(bomb.height, 100_000)
    }

    func testGreyscaleAndPaletteBecomeRGB() throws {
        let grey = try ImageDecoder.decode(try Fixtures.data("grey_37x23.png"))
        for pixel in stride(from: 0, to: grey.pixels.count, by: 3) {
            XCTAssertEqual(grey.pixels[pixel], grey.pixels[pixel + 1])
            XCTAssertEqual(grey.pixels[pixel], grey.pixels[pixel + 2])
        }
        let twoBit = try ImageDecoder.decode(try Fixtures.data("grey2bit_37x23.png"))
        XCTAssertTrue(Set(twoBit.pixels).isSubset(of: [0, 85, 170, 255]))
    }
}
