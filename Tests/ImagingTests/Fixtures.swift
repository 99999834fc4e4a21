import Foundation
import XCTest

/// Reads Tests/Fixtures/images/ (written by scripts/fixtures_images.py) and its index.json.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images")

    struct DecodeCase: Decodable {
        var file: String
        var width: Int
        var height: Int
        var pilMode: String
        var note: String
        var tolerance: Int
        var expectedDropAlpha: String
        var expectedComposite: String
    }

    struct ErrorCase: Decodable {
        var file: String
        var error: String
        var pil: String
        var note: String
    }

    struct AlphaPairs: Decodable {
        var file: String
        var expectedCompositePng: String
    }

    struct PreprocessCase: Decodable {
        var name: String
        var image: String
        var configDirectory: String?
        var output: String
        var shape: [Int]
        var referenceDtype: String
        var note: String
    }

    struct Index: Decodable {
        var decode: [DecodeCase]
        var errors: [ErrorCase]
        var alphaPairs: AlphaPairs
        var preprocess: [PreprocessCase]
        var processorClass: String
    }

    static let index: Index = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(Index.self, from: data("index.json"))
        } catch {
            fatalError("cannot read \(directory.path)/index.json: \(error)")
        }
    }()

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try data(name))
    }

    /// A raw little-endian float32 file.
    static func floats(_ name: String) throws -> [Float] {
        let raw = try data(name)
        return raw.withUnsafeBytes { buffer in
            (0..<(raw.count / 4)).map { index in
                Float(bitPattern: UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
            }
        }
    }
}
