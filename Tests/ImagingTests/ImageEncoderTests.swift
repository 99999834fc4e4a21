import Foundation
import XCTest
@testable import Imaging

final class ImageEncoderTests: XCTestCase {
    func testPNGRoundTripIsLossless() throws {
        for file in ["photo_203x157.png", "rgb_37x23.png", "rgba_37x23.png", "palette_37x23.png"] {
            let image = try ImageDecoder.decode(try Fixtures.data(file))
            let encoded = PNGEncoder.encode(image)
            XCTAssertEqual(try ImageDecoder.format(of: encoded), .png)
            XCTAssertEqual(try ImageDecoder.decode(encoded), image, file)
        }
        let single = RGBImage(width: 1, height: 1, red: 1, green: 2, blue: 3)
        XCTAssertEqual(try ImageDecoder.decode(PNGEncoder.encode(single)), single)
    }

    /// JPEG is lossy: the round trip must stay close. The noisy photo loses as much as with Pillow's own
    /// encoder (same libjpeg settings: Pillow's file is byte-for-byte the same size, mean error ~10.7 at
    /// quality 95); a smooth gradient must come back within about one level.
    func testJPEGRoundTripIsClose() throws {
        var gradient = [UInt8]()
        for y in 0..<48 {
            for x in 0..<64 {
                gradient += [UInt8(x * 4), UInt8(y * 5), UInt8(128 + (x - y) / 2)]
            }
        }
        let smooth = RGBImage(width: 64, height: 48, pixels: gradient)
        let photo = try ImageDecoder.decode(try Fixtures.data("photo_203x157.png"))
        for (image, quality, limit) in [(smooth, 95, 1.5), (photo, 95, 12.0), (photo, 50, 17.0)] {
            let encoded = JPEGEncoder.encode(image, quality: quality)
            XCTAssertEqual(try ImageDecoder.format(of: encoded), .jpeg)
            let decoded = try ImageDecoder.decode(encoded)
            XCTAssertEqual(decoded.width, image.width)
            XCTAssertEqual(decoded.height, image.height)
            let totalError = zip(decoded.pixels, image.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
            let meanError = Double(totalError) / Double(image.pixels.count)
            print("JPEG \(image.width)x\(image.height) quality \(quality): \(encoded.count) bytes, mean |error| \(meanError)")
            XCTAssertLessThanOrEqual(meanError, limit)
        }
    }
}
