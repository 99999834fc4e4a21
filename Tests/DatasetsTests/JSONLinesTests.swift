import Foundation
import Imaging
import XCTest
@testable import Datasets

final class JSONLinesTests: XCTestCase {
    func testWrittenDatasetLoadsBackWithSameItemsAndPixels() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("set")
        let tricky = "Is the \"red\" one\tleft\\right?\nÉtoile ★ / ok"
        let entries: [(item: VQAItem, imageData: Data)] = [
            (VQAItem(image: "", question: "What colour?", answer: "red"), solidPNG(200)),
            (VQAItem(image: "", question: tricky, answer: "yes", family: "relation"), solidPNG(0, 200)),
            (VQAItem(image: "", question: "Which?", answer: "blue"), JPEGEncoder.encode(RGBImage(width: 8, height: 8, blue: 255))),
        ]
        try DatasetWriter.write(items: entries, to: folder)
        let text = try String(contentsOf: folder.appendingPathComponent("data.jsonl"), encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("{\"image\": \"images/00001.png\", \"question\": \"What colour?\", \"answer\": \"red\"}\n"))
        let dataset = try Dataset.load(from: folder)
        XCTAssertEqual(dataset.items.count, 3)
        XCTAssertEqual(dataset.items[1].question, tricky)
        XCTAssertEqual(dataset.items[1].family, "relation")
        XCTAssertNil(dataset.items[0].family)
        XCTAssertEqual(dataset.items.map(\.image), ["images/00001.png", "images/00002.png", "images/00003.jpg"])
        XCTAssertEqual(dataset.locations, ["line 1", "line 2", "line 3"])
        try dataset.validateImages()
        XCTAssertEqual(try dataset.imageData(of: dataset.items[0]), entries[0].imageData)
        let decoded = try dataset.image(of: dataset.items[1])
        XCTAssertEqual(Array(decoded.pixels.prefix(3)), [0, 200, 0])
        // Loading the data.jsonl file itself gives the same dataset.
        XCTAssertEqual(try Dataset.load(from: folder.appendingPathComponent("data.jsonl")).items, dataset.items)
        // Nothing but the dataset is left next to it (the staging folder was renamed into place).
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.path), ["set"])
    }

    func testHandWrittenFileWithBlankLinesCRLFAndExtraFields() throws {
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try solidPNG(9).write(to: folder.appendingPathComponent("a.png"))
        try write("\u{FEFF}{\"image\": \"a.png\", \"question\": \"q1\", \"answer\": \"a1\", \"extra\": [1, 2]}\r\n\r\n   \n"
                  + "{\"answer\": \"a2\", \"question\": \"q2\", \"image\": \"a.png\"}", to: folder.appendingPathComponent("data.jsonl"))
        let dataset = try Dataset.load(from: folder)
        XCTAssertEqual(dataset.items, [VQAItem(image: "a.png", question: "q1", answer: "a1"),
                                       VQAItem(image: "a.png", question: "q2", answer: "a2")])
        XCTAssertEqual(dataset.locations, ["line 1", "line 4"])
    }

    func testErrorsNameFileLineAndField() throws {
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("data.jsonl")
        let good = "{\"image\": \"a.png\", \"question\": \"q\", \"answer\": \"a\"}\n"

        try write(good + good + "{\"image\": \"a.png\", \"question\": \"q\" \"answer\": \"a\"}\n", to: file)
        guard case .malformedJSON(let path, let location, _)? = assertDatasetError(try Dataset.load(from: folder)) else {
            return XCTFail("expected malformedJSON")
        }
        XCTAssertEqual(path, file.path)
        XCTAssertEqual(location, "line 3")

        try write(good + "{\"image\": \"a.png\", \"answer\": \"a\"}\n", to: file)
        XCTAssertEqual(assertDatasetError(try Dataset.load(from: folder)),
                       .missingField(file: file.path, location: "line 2", field: "question"))

        try write("{\"image\": \"a.png\", \"question\": \"q\", \"answer\": 5}\n", to: file)
        XCTAssertEqual(assertDatasetError(try Dataset.load(from: folder)),
                       .wrongType(file: file.path, location: "line 1", field: "answer", expected: "a string", found: "a number"))

        try write("{\"image\": true, \"question\": \"q\", \"answer\": \"a\"}\n", to: file)
        XCTAssertEqual(assertDatasetError(try Dataset.load(from: folder)),
                       .wrongType(file: file.path, location: "line 1", field: "image", expected: "a string", found: "a boolean"))

        try write("[1, 2]\n", to: file)
        XCTAssertEqual(assertDatasetError(try Dataset.load(from: folder)),
                       .wrongType(file: file.path, location: "line 1", field: "(item)", expected: "an object", found: "an array"))

        try write("{\"image\": \"a.png\", \"question\": \"   \", \"answer\": \"a\"}\n", to: file)
        XCTAssertEqual(assertDatasetError(try Dataset.load(from: folder)),
                       .invalidValue(file: file.path, location: "line 1", field: "question", reason: "empty"))

        for unsafe in ["../secret.png", "/etc/passwd", "images/../../x.png", "images//a.png"] {
            try write("{\"image\": \"\(unsafe)\", \"question\": \"q\", \"answer\": \"a\"}\n", to: file)
            guard case .invalidValue(_, "line 1", "image", _)? = assertDatasetError(try Dataset.load(from: folder)) else {
                return XCTFail("\(unsafe) should be refused")
            }
        }

        try write("\n\n", to: file)
        XCTAssertEqual(assertDatasetError(try Dataset.load(from: folder)), .empty(file: file.path))
    }

    func testMissingImageNamesTheItem() throws {
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try solidPNG(1).write(to: folder.appendingPathComponent("there.png"))
        try write("{\"image\": \"there.png\", \"question\": \"q\", \"answer\": \"a\"}\n"
                  + "{\"image\": \"gone.png\", \"question\": \"q\", \"answer\": \"a\"}\n", to: folder.appendingPathComponent("data.jsonl"))
        let dataset = try Dataset.load(from: folder)
        let expected = DatasetError.missingImage(file: folder.appendingPathComponent("data.jsonl").path, location: "line 2",
                                                 image: folder.appendingPathComponent("gone.png").path)
        XCTAssertEqual(assertDatasetError(try dataset.validateImages()), expected)
        XCTAssertEqual(assertDatasetError(try dataset.imageData(of: dataset.items[1])), expected)
        XCTAssertTrue(expected.description.contains("line 2"))
    }

    func testBrokenImageIsReportedWhenDecoded() throws {
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("not a png".utf8).write(to: folder.appendingPathComponent("x.png"))
        try write("{\"image\": \"x.png\", \"question\": \"q\", \"answer\": \"a\"}\n", to: folder.appendingPathComponent("data.jsonl"))
        let dataset = try Dataset.load(from: folder)
        guard case .badImage("x.png", _)? = assertDatasetError(try dataset.image(of: dataset.items[0])) else {
            return XCTFail("expected badImage")
        }
        let big = PNGEncoder.encode(RGBImage(width: 40, height: 40))
        try big.write(to: folder.appendingPathComponent("x.png"))
        guard case .badImage = assertDatasetError(try dataset.image(of: dataset.items[0],
                                                                    limits: ImageLimits(maxWidth: 32, maxHeight: 32, maxPixels: 1024))) else {
            return XCTFail("expected the limit to refuse a 40x40 image")
        }
    }

    func testMissingFolderAndMissingDataFile() throws {
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let absent = folder.appendingPathComponent("nope")
        XCTAssertEqual(assertDatasetError(try Dataset.load(from: absent)), .notFound(path: absent.path))
        XCTAssertEqual(assertDatasetError(try Dataset.load(from: folder)), .missingDataFile(directory: folder.path))
        try write("x", to: folder.appendingPathComponent("notes.txt"))
        XCTAssertEqual(assertDatasetError(try Dataset.load(from: folder.appendingPathComponent("notes.txt"))),
                       .unsupportedFile(path: folder.appendingPathComponent("notes.txt").path))
        try write("[]", to: folder.appendingPathComponent("a.json"))
        try write("[]", to: folder.appendingPathComponent("b.json"))
        XCTAssertEqual(assertDatasetError(try Dataset.load(from: folder)),
                       .ambiguousDataFiles(directory: folder.path, candidates: ["a.json", "b.json"]))
    }
}
