import Foundation
import Tensor
import XCTest
@testable import ModelIO

final class SafeTensorsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testRoundTripInEveryStorageType() throws {
        let values: [Float] = [0, 1, -2.5, 3.140625, 1e-3, -65504, 0.1]
        let tensors = ["a.weight": Tensor(shape: [7], values: values), "b": Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])]
        for storage in [SafeTensorsWriter.Storage.f32, .f16, .bf16] {
            let url = directory.appendingPathComponent("\(storage).safetensors")
            try SafeTensorsWriter.write(tensors, to: url, metadata: ["format": "pt"], as: storage)
            let file = try SafeTensorsFile(contentsOf: url)
            XCTAssertEqual(file.keys, ["a.weight", "b"])
            XCTAssertEqual(file.metadata["format"], "pt")
            XCTAssertEqual(file.entries["b"]?.shape, [2, 3])
            let read = try file.tensor("a.weight").toArray()
            for (x, y) in zip(read, values) {
                let tolerance: Float = storage == .f32 ? 0 : (storage == .f16 ? 1e-3 : 8e-3) * max(1, abs(y))
                XCTAssertEqual(x, y, accuracy: tolerance, "\(storage)")
            }
        }
    }

    func testBFloat16RoundsToNearestEven() {
        XCTAssertEqual(SafeTensorsWriter.bfloat16Bits(1.0), 0x3F80)
        // 1 + 2^-8 lies halfway between two bfloat16 values; ties go to the even one (1.0).
        XCTAssertEqual(SafeTensorsWriter.bfloat16Bits(1.00390625), 0x3F80)
        XCTAssertEqual(SafeTensorsWriter.bfloat16Bits(1.01171875), 0x3F82)
    }

    func testMalformedFilesGiveReadableErrors() throws {
        let short = directory.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: short)
        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: short)) { error in
            XCTAssertTrue("\(error)".contains("shorter than 8 bytes"), "\(error)")
        }
        var huge = Data()
        withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { huge.append(contentsOf: $0) }
        let hugeURL = directory.appendingPathComponent("huge.safetensors")
        try huge.write(to: hugeURL)
        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: hugeURL)) { XCTAssertTrue("\($0)".contains("exceeds file size")) }
        let header = #"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}"#.data(using: .utf8)!
        var bad = Data()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bad.append(contentsOf: $0) }
        bad.append(header)
        bad.append(Data(count: 8))
        let badURL = directory.appendingPathComponent("bad.safetensors")
        try bad.write(to: badURL)
        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: badURL)) { XCTAssertEqual($0 as? ModelIOError, .outOfBounds(key: "x", path: badURL.path)) }
        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: directory.appendingPathComponent("absent"))) {
            XCTAssertTrue("\($0)".contains("cannot open"))
        }
    }

    func testAtomicWriteLeavesNoTemporaryFiles() throws {
        let url = directory.appendingPathComponent("x.safetensors")
        try SafeTensorsWriter.write(["t": Tensor(zeros: [3])], to: url)
        try SafeTensorsWriter.write(["t": Tensor(shape: [2], values: [1, 2])], to: url)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["x.safetensors"])
        XCTAssertEqual(try SafeTensorsFile(contentsOf: url).tensor("t").toArray(), [1, 2])
    }

    func testStrictBindingNamesTheKeyAndShapes() throws {
        let checkpoint = Checkpoint(tensors: ["a": Tensor(zeros: [2, 3]), "b": Tensor(zeros: [4]), "c": Tensor(zeros: [1])])
        let binder = WeightBinder(checkpoint)
        XCTAssertThrowsError(try binder.take("a", shape: [3, 2])) {
            XCTAssertEqual($0 as? ModelIOError, .shapeMismatch(key: "a", expected: [3, 2], got: [2, 3]))
            XCTAssertEqual("\($0)", "tensor a has shape [2, 3], the model expects [3, 2]")
        }
        XCTAssertThrowsError(try binder.take("missing", shape: [1])) { XCTAssertEqual($0 as? ModelIOError, .missingTensor(key: "missing")) }
        _ = try binder.take("a", shape: [2, 3])
        XCTAssertThrowsError(try binder.finish()) { XCTAssertEqual($0 as? ModelIOError, .unusedTensors(keys: ["b", "c"])) }
        binder.ignore { $0 == "b" || $0 == "c" }
        XCTAssertNoThrow(try binder.finish())
    }
}
