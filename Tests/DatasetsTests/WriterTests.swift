import Foundation
import XCTest
@testable import Datasets

final class WriterTests: XCTestCase {
    func testRefusesNonEmptyDestinationUnlessOverwriting() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("set")
        try DatasetWriter.write(items: [(VQAItem(image: "", question: "q", answer: "old"), solidPNG(1))], to: folder)
        XCTAssertEqual(assertDatasetError(try DatasetWriter.write(items: [(VQAItem(image: "", question: "q", answer: "new"), solidPNG(2))],
                                                                  to: folder)),
                       .destinationExists(path: folder.standardizedFileURL.path))
        XCTAssertEqual(try Dataset.load(from: folder).items.map(\.answer), ["old"])
        try DatasetWriter.write(items: [(VQAItem(image: "", question: "q", answer: "new"), solidPNG(2))], to: folder, overwrite: true)
        let dataset = try Dataset.load(from: folder)
        XCTAssertEqual(dataset.items.map(\.answer), ["new"])
        XCTAssertEqual(try dataset.imageData(of: dataset.items[0]), solidPNG(2))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.path), ["set"])
        // An existing empty folder is fine.
        let empty = root.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try DatasetWriter.write(items: [(VQAItem(image: "", question: "q", answer: "a"), solidPNG(3))], to: empty)
        XCTAssertEqual(try Dataset.load(from: empty).items.count, 1)
    }

    func testSharedImagePathsAreStoredOnceAndConflictsRefused() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("set")
        try DatasetWriter.write(items: [
            (VQAItem(image: "pics/one.png", question: "q1", answer: "a"), solidPNG(5)),
            (VQAItem(image: "pics/one.png", question: "q2", answer: "b"), solidPNG(5)),
        ], to: folder)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("pics").path), ["one.png"])
        XCTAssertEqual(try Dataset.load(from: folder).items.map(\.question), ["q1", "q2"])

        let other = root.appendingPathComponent("other")
        guard case .invalidValue(_, "item 2", "image", _)? = assertDatasetError(try DatasetWriter.write(items: [
            (VQAItem(image: "same.png", question: "q1", answer: "a"), solidPNG(5)),
            (VQAItem(image: "same.png", question: "q2", answer: "b"), solidPNG(6)),
        ], to: other)) else { return XCTFail("expected a conflict") }
        // The failed write left nothing behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.path), ["set"])

        guard case .badImage? = assertDatasetError(try DatasetWriter.write(items: [
            (VQAItem(image: "", question: "q", answer: "a"), Data("GIF89a".utf8)),
        ], to: other)) else { return XCTFail("only PNG and JPEG are written") }
    }

    func testIndexOverSubfolders() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let first = try DatasetWriter.write(items: [(VQAItem(image: "", question: "q1", answer: "a", family: "one"), solidPNG(1))],
                                            to: root.appendingPathComponent("one"))
        XCTAssertEqual(first.items[0].image, "images/00001.png")
        try DatasetWriter.writeIndex(items: [VQAItem(image: "one/images/00001.png", question: "q1", answer: "a", family: "one")], to: root)
        let combined = try Dataset.load(from: root)
        XCTAssertEqual(try combined.imageData(of: combined.items[0]), solidPNG(1))
        XCTAssertEqual(combined.items[0].family, "one")
        guard case .missingImage? = assertDatasetError(try DatasetWriter.writeIndex(
            items: [VQAItem(image: "two/images/00001.png", question: "q", answer: "a")], to: root)) else {
            return XCTFail("an index over missing images should be refused")
        }
    }
}
