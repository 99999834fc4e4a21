import Foundation
import XCTest
@testable import Imaging

final class ImagePreprocessorConfigTests: XCTestCase {
    private func decode(_ json: String) throws -> ImagePreprocessorConfig {
        try JSONDecoder().decode(ImagePreprocessorConfig.self, from: Data(json.utf8))
    }

    /// A real CLIP preprocessor_config.json (openai/clip-vit-base-patch32's keys).
    func testDecodesAHuggingFaceConfig() throws {
        let config = try decode("""
            {"crop_size": {"height": 336, "width": 336}, "do_center_crop": true, "do_convert_rgb": true,
             "do_normalize": true, "do_rescale": true, "do_resize": true,
             "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "CLIPImageProcessor",
             "image_std": [0.26862954, 0.26130258, 0.27577711], "processor_class": "LlavaProcessor",
             "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 336}}
            """)
        XCTAssertEqual(config.size, .init(shortestEdge: 336))
        XCTAssertEqual(config.cropSize, .init(height: 336, width: 336))
        XCTAssertEqual(config.rescaleFactor, 1.0 / 255.0)
        XCTAssertEqual(CLIPImagePreprocessor(config: config).outputHeight, 336)
    }

    func testLegacyAndScalarForms() throws {
        let config = try decode(#"{"size": 256, "crop_size": 240, "image_mean": 0.5, "image_std": [0.5, 0.5, 0.5]}"#)
        XCTAssertEqual(config.size, .init(shortestEdge: 256))
        XCTAssertEqual(config.cropSize, .init(height: 240, width: 240))
        XCTAssertEqual(config.imageMean, [0.5, 0.5, 0.5])
        let square = try decode(#"{"size": 256, "default_to_square": true, "crop_size": [200, 100]}"#)
        XCTAssertEqual(square.size, .init(height: 256, width: 256))
        XCTAssertEqual(square.cropSize, .init(height: 200, width: 100))
        let nulls = try decode(#"{"image_mean": null, "size": null, "resample": null}"#)
        XCTAssertEqual(nulls, ImagePreprocessorConfig())
    }

    func testRejectsUnusableConfigs() {
        for json in [#"{"resample": 7}"#, #"{"size": {"longest_edge": 10}}"#, #"{"crop_size": {"height": 0, "width": 5}}"#,
                     #"{"image_std": [1, 0, 1]}"#, #"{"image_mean": [0.5, 0.5]}"#, #"{"size": [1, 2, 3]}"#,
                     #"{"do_resize": "yes"}"#] {
            XCTAssertThrowsError(try decode(json), json)
        }
        // Unused parts may be anything: no resize, so the size is not looked at.
        XCTAssertNoThrow(try decode(#"{"do_resize": false, "size": {"longest_edge": 10}}"#))
    }

    func testLoadFallsBackToDefaultsAndReportsBadFiles() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("mneme-imaging-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertEqual(try ImagePreprocessorConfig.load(from: directory), ImagePreprocessorConfig())

        let file = directory.appendingPathComponent(ImagePreprocessorConfig.fileName)
        try Data(#"{"image_std": [1, 0, 1]}"#.utf8).write(to: file)
        XCTAssertThrowsError(try ImagePreprocessorConfig.load(from: directory)) { error in
            guard case ImageError.invalidConfig(let detail) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("image_std"), detail)
        }
        try Data("not json".utf8).write(to: file)
        XCTAssertThrowsError(try ImagePreprocessorConfig.load(from: directory)) { error in
            guard case ImageError.invalidConfig = error else { return XCTFail("\(error)") }
        }
    }

    func testRoundTripsThroughJSON() throws {
        let config = ImagePreprocessorConfig(size: .init(height: 50, width: 70), resample: .bilinear,
                                             doCenterCrop: false, imageMean: [0.5, 0.5, 0.5])
        let decoded = try JSONDecoder().decode(ImagePreprocessorConfig.self, from: JSONEncoder().encode(config))
        XCTAssertEqual(decoded, config)
    }
}
