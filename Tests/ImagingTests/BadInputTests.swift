import Foundation
import XCTest
@testable import Imaging

/// Broken, truncated, hostile and non-image input: always an `ImageError`, never a crash or a hang.
final class BadInputTests: XCTestCase {
    private func error(decoding data: Data, limits: ImageLimits = .default) -> ImageError? {
        do {
            _ = try ImageDecoder.decode(data, limits: limits)
            return nil
        } catch let error as ImageError {
            return error
        } catch {
            XCTFail("not an ImageError: \(error)")
            return nil
        }
    }

    private func kind(_ error: ImageError) -> String {
        switch error {
        case .empty: return "empty"
        case .unsupportedFormat: return "unsupportedFormat"
        case .corrupt: return "corrupt"
        case .truncated: return "truncated"
        case .tooLarge: return "tooLarge"
        case .invalidConfig: return "invalidConfig"
        case .codecFailure: return "codecFailure"
        }
    }

    /// Each fixture has the error kind we promise; Pillow also refuses every one of them (see "pil").
    func testFixturesGiveTheExpectedError() throws {
        XCTAssertFalse(Fixtures.index.errors.isEmpty)
        for item in Fixtures.index.errors {
            XCTAssertNotEqual(item.pil, "decoded", "\(item.file): Pillow accepts it, so should we")
            guard let error = error(decoding: try Fixtures.data(item.file)) else {
                XCTFail("\(item.file) (\(item.note)) decoded without error")
                continue
            }
            XCTAssertEqual(kind(error), item.error, "\(item.file) (\(item.note)): \(error)")
            XCTAssertFalse(error.description.isEmpty)
        }
    }

    /// The bombs are refused from the header. Had the decoder allocated and started decoding, libpng or
    /// libjpeg would have failed on the missing data (`corrupt`/`truncated`) instead of `tooLarge`.
    func testDecompressionBombsAreRefusedBeforeDecoding() throws {
        XCTAssertEqual(error(decoding: try Fixtures.data("bomb_100000x100000.png")),
                       .tooLarge(width: 100_000, height: 100_000, limit: "width at most 8192"))
        XCTAssertEqual(error(decoding: try Fixtures.data("bomb_65000x65000.jpg")),
                       .tooLarge(width: 65_000, height: 65_000, limit: "width at most 8192"))
        let roomy = ImageLimits(maxWidth: 200_000, maxHeight: 200_000, maxPixels: 1_000_000)
        XCTAssertEqual(error(decoding: try Fixtures.data("bomb_100000x100000.png"), limits: roomy),
                       .tooLarge(width: 100_000, height: 100_000, limit: "at most 1000000 pixels"))
    }

    /// The scan cap, exercised with a low budget on an ordinary progressive file (libjpeg writes 10 scans).
    func testJPEGScanLimit() throws {
        let data = try Fixtures.data("progressive_37x23.jpg")
        try data.withUnsafeBytes { bytes in
            let header = try Codecs.header(of: bytes)
            XCTAssertNoThrow(try Codecs.decodeJPEG(bytes, header: header, maxScans: 10))
            XCTAssertThrowsError(try Codecs.decodeJPEG(bytes, header: header, maxScans: 3)) { error in
                XCTAssertEqual(error as? ImageError, .corrupt("JPEG: more than 3 scans"))
            }
        }
    }

    func testLimitsApplyToValidImages() throws {
        let png = try Fixtures.data("rgb_37x23.png")
        let jpeg = try Fixtures.data("rgb420_37x23.jpg")
        for data in [png, jpeg] {
            XCTAssertEqual(error(decoding: data, limits: ImageLimits(maxWidth: 36, maxHeight: 100, maxPixels: 10_000)),
                           .tooLarge(width: 37, height: 23, limit: "width at most 36"))
            XCTAssertEqual(error(decoding: data, limits: ImageLimits(maxWidth: 100, maxHeight: 22, maxPixels: 10_000)),
                           .tooLarge(width: 37, height: 23, limit: "height at most 22"))
            XCTAssertEqual(error(decoding: data, limits: ImageLimits(maxWidth: 100, maxHeight: 100, maxPixels: 850)),
                           .tooLarge(width: 37, height: 23, limit: "at most 850 pixels"))
            XCTAssertNil(error(decoding: data, limits: ImageLimits(maxWidth: 37, maxHeight: 23, maxPixels: 851)))
        }
    }

    func testEmptyShortAndForeignInput() {
        XCTAssertEqual(error(decoding: Data()), .empty)
        for prefix in 1..<8 {
            guard case .truncated = error(decoding: Data(ImageFormat.pngSignature.prefix(prefix))) else {
                return XCTFail("PNG signature cut at \(prefix) should be truncated")
            }
        }
        guard case .truncated = error(decoding: Data([0xFF, 0xD8])) else { return XCTFail("JPEG SOI only") }
        guard case .truncated = error(decoding: Data(ImageFormat.pngSignature)) else { return XCTFail("PNG sig") }
        guard case .truncated = error(decoding: Data([0xFF, 0xD8, 0xFF])) else { return XCTFail("JPEG sig") }
        XCTAssertEqual(error(decoding: Data("GIF89a....".utf8)), .unsupportedFormat("GIF"))
        XCTAssertEqual(error(decoding: Data("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8)), .unsupportedFormat("WebP"))
        XCTAssertEqual(error(decoding: Data([0x00])), .unsupportedFormat("unknown data starting with 00"))
        XCTAssertThrowsError(try ImageDecoder.dimensions(of: Data()))
    }

    /// Every prefix of valid files, and many single-byte corruptions: decoding either succeeds or throws
    /// an `ImageError` (the helper fails the test on any other error; a crash or hang fails the run).
    func testTruncationsAndCorruptionsNeverCrash() throws {
        var generator = SplitMix64(seed: 7)
        let files = ["rgb_37x23.png", "palette_trns_37x23.png", "interlaced_37x23.png", "rgba16_37x23.png",
                     "rgb420_37x23.jpg", "progressive_37x23.jpg", "cmyk_37x23.jpg", "grey_37x23.jpg"]
        var outcomes = (decoded: 0, refused: 0)
        for file in files {
            let original = try Fixtures.bytes(file)
            for length in 0..<original.count {
                let result = error(decoding: Data(original[0..<length]))
                if result == nil { outcomes.decoded += 1 } else { outcomes.refused += 1 }
            }
            for _ in 0..<300 {
                var corrupted = original
                let position = Int(generator.next() % UInt64(corrupted.count))
                corrupted[position] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
                if error(decoding: Data(corrupted)) == nil { outcomes.decoded += 1 } else { outcomes.refused += 1 }
            }
        }
        XCTAssertGreaterThan(outcomes.refused, 0)
        print("fuzz: \(outcomes.decoded) decoded, \(outcomes.refused) refused")
    }
}

/// A tiny deterministic generator, so the fuzz cases are the same on every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
