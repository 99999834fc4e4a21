import Foundation
import XCTest
@testable import Datasets

final class ConversationTests: XCTestCase {
    private let sample = """
    [
      {"id": "000001", "image": "cat.png", "conversations": [
        {"from": "human", "value": "<image>\\nWhat animal is this?"},
        {"from": "gpt", "value": "A cat."},
        {"from": "human", "value": "What colour is it?"},
        {"from": "gpt", "value": " grey\\n"}
      ]},
      {"id": 7, "image": "dog.png", "conversations": [
        {"from": "system", "value": "Be brief."},
        {"from": "user", "value": "What is this?\\n<image>"},
        {"from": "assistant", "value": "dog"}
      ]}
    ]
    """

    func testPairsBecomeItemsWithMarkerStrippedAndImagesResolved() throws {
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try solidPNG(10).write(to: folder.appendingPathComponent("cat.png"))
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("images"), withIntermediateDirectories: true)
        try solidPNG(20).write(to: folder.appendingPathComponent("images/dog.png"))
        let file = folder.appendingPathComponent("llava.json")
        try write(sample, to: file)
        for source in [folder, file] {
            let dataset = try Dataset.load(from: source)
            XCTAssertEqual(dataset.directory.standardizedFileURL.path, folder.standardizedFileURL.path)
            XCTAssertEqual(dataset.items, [
                VQAItem(image: "cat.png", question: "What animal is this?", answer: "A cat."),
                VQAItem(image: "cat.png", question: "What colour is it?", answer: "grey"),
                VQAItem(image: "images/dog.png", question: "What is this?", answer: "dog"),
            ])
            XCTAssertEqual(dataset.locations[1], "entry 1 (id \"000001\"), turn pair 2")
            XCTAssertEqual(dataset.locations[2], "entry 2 (id 7), turn pair 1")
            try dataset.validateImages()
            XCTAssertEqual(try dataset.imageData(of: dataset.items[2]), solidPNG(20))
        }
    }

    func testMissingImageIsReportedWithTheEntry() throws {
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try solidPNG(10).write(to: folder.appendingPathComponent("cat.png"))
        let file = folder.appendingPathComponent("llava.json")
        try write(sample, to: file)
        let dataset = try Dataset.load(from: file)
        XCTAssertEqual(assertDatasetError(try dataset.validateImages()),
                       .missingImage(file: file.path, location: "entry 2 (id 7), turn pair 1",
                                     image: folder.appendingPathComponent("dog.png").path))
    }

    func testStructuralErrors() throws {
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("c.json")
        func load(_ text: String) -> DatasetError? {
            try? write(text, to: file)
            return assertDatasetError(try Dataset.load(from: file))
        }
        XCTAssertEqual(load("{\"image\": \"a.png\"}"),
                       .wrongType(file: file.path, location: "top level", field: "(top level)",
                                  expected: "an array of conversations", found: "an object"))
        XCTAssertEqual(load("[{\"id\": \"x\", \"conversations\": []}]"),
                       .missingField(file: file.path, location: "entry 1 (id \"x\")", field: "image"))
        XCTAssertEqual(load("[{\"image\": \"a.png\", \"conversations\": \"hi\"}]"),
                       .wrongType(file: file.path, location: "entry 1", field: "conversations", expected: "an array", found: "a string"))
        XCTAssertEqual(load("[{\"image\": \"a.png\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nq\"}]}]"),
                       .invalidValue(file: file.path, location: "entry 1", field: "conversations",
                                     reason: "the last human turn has no gpt reply"))
        guard case .invalidValue(_, "entry 1, turn 1", "from", _)? =
                load("[{\"image\": \"a.png\", \"conversations\": [{\"from\": \"gpt\", \"value\": \"a\"}]}]") else {
            return XCTFail("a gpt turn first should be refused")
        }
        XCTAssertEqual(load("[{\"image\": \"a.png\", \"conversations\": [{\"from\": \"human\", \"value\": 3}]}]"),
                       .wrongType(file: file.path, location: "entry 1, turn 1", field: "value", expected: "a string", found: "a number"))
        guard case .invalidValue(_, "entry 1, turn 1", "value", _)? =
                load("[{\"image\": \"a.png\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\n\"}, {\"from\": \"gpt\", \"value\": \"a\"}]}]") else {
            return XCTFail("a question that is only the marker should be refused")
        }
        guard case .malformedJSON(_, "top level", _)? = load("[{\"image\": ") else {
            return XCTFail("expected malformedJSON")
        }
        XCTAssertEqual(load("[]"), .empty(file: file.path))
    }
}
