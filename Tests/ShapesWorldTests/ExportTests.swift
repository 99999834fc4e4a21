import Datasets
import Foundation
import Imaging
import XCTest
@testable import ShapesWorld

final class ExportTests: XCTestCase {
    private func temporary(_ name: String = #function) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("mneme-shapes-\(getpid())-\(name.filter(\.isLetter))-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func testWrittenFamilyLoadsBackWithIdenticalPixels() throws {
        let root = try temporary()
        defer { try? FileManager.default.removeItem(at: root) }
        let world = ShapesWorld(seed: 8)
        var reported: [Int] = []
        try world.writeDataset(family: .position, count: 30, start: 5, to: root.appendingPathComponent("position"),
                               progress: { reported.append($0) })
        XCTAssertEqual(reported.last, 30)
        let dataset = try Dataset.load(from: root.appendingPathComponent("position"))
        try dataset.validateImages()
        XCTAssertEqual(dataset.items.count, 30)
        for (offset, item) in dataset.items.enumerated() {
            let sample = world.sample(.position, index: 5 + offset)
            XCTAssertEqual(item.question, sample.question)
            XCTAssertEqual(item.answer, sample.answer)
            XCTAssertEqual(item.family, "position")
            XCTAssertEqual(try dataset.image(of: item), sample.image)
        }
    }

    func testJPEGOption() throws {
        let root = try temporary()
        defer { try? FileManager.default.removeItem(at: root) }
        let dataset = try ShapesWorld(seed: 8).writeDataset(family: .describe, count: 3, to: root.appendingPathComponent("d"), format: .jpeg)
        XCTAssertTrue(dataset.items.allSatisfy { $0.image.hasSuffix(".jpg") })
        XCTAssertEqual(try ImageDecoder.format(of: try dataset.imageData(of: dataset.items[0])), .jpeg)
    }

    func testSeveralFamiliesGetSubfoldersAndACombinedIndex() throws {
        let root = try temporary()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out")
        try ShapesWorld(seed: 2).writeDatasets(families: [.count, .glyph], count: 6, to: out)
        let combined = try Dataset.load(from: out)
        XCTAssertEqual(combined.items.count, 12)
        XCTAssertEqual(combined.items.map(\.family), Array(repeating: "count", count: 6) + Array(repeating: "glyph", count: 6))
        try combined.validateImages()
        let glyph = try Dataset.load(from: out.appendingPathComponent("glyph"))
        XCTAssertEqual(glyph.items.map(\.question), Array(combined.items[6...].map(\.question)))
        XCTAssertThrowsError(try ShapesWorld(seed: 2).writeDatasets(families: [.count], count: 1, to: out))
    }

    func testBenchmarkLayoutMatchesItsManifest() throws {
        let root = try temporary()
        defer { try? FileManager.default.removeItem(at: root) }
        let manifest = try ContinualBenchmark.write(to: root.appendingPathComponent("bench"), seed: 3, trainCount: 4, evalCount: 2)
        XCTAssertEqual(manifest.tasks.map(\.name), ShapesWorld.continualSequence.map(\.rawValue))
        XCTAssertEqual(manifest.tasks.first?.train, "01-count-colour/train")
        let world = ShapesWorld(seed: 3)
        for task in manifest.tasks {
            let train = try Dataset.load(from: root.appendingPathComponent("bench/" + task.train))
            let eval = try Dataset.load(from: root.appendingPathComponent("bench/" + task.eval))
            XCTAssertEqual(train.items.count, 4)
            XCTAssertEqual(eval.items.count, 2)
            let family = QuestionFamily(rawValue: task.name)!
            XCTAssertEqual(eval.items[1].question, world.question(family, index: ShapesWorld.heldOutStart + 1).question)
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("bench/benchmark.json"))) as? [String: Any]
        XCTAssertEqual(json?["seed"] as? Int, 3)
        XCTAssertEqual((json?["tasks"] as? [[String: Any]])?.first?["train_count"] as? Int, 4)
        // The documented defaults.
        let documented = ContinualBenchmark.manifest()
        XCTAssertEqual(documented.seed, 2024)
        XCTAssertTrue(documented.tasks.allSatisfy { $0.trainCount == 800 && $0.evalCount == 200 })
    }
}
