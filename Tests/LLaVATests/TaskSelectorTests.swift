import Foundation
import Tensor
import XCTest
@testable import LLaVA

final class TaskSelectorTests: XCTestCase {
    private func unit(_ index: Int, _ dimension: Int, noise: Float = 0) -> [Float] {
        (0 ..< dimension).map { $0 == index ? 1 : noise * Float(($0 * 7 + index) % 5 - 2) }
    }

    /// A base task with one prototype per family keeps each family's items even when a new task's key sits
    /// between them; with the families' single mean key, the new task takes them.
    func testPrototypesKeepUnlikeFamiliesOfOneTask() {
        let d = 4
        // Three base families along axes 0, 1 and 2 (image and text alike); the new task lies between the
        // first two, nearer to each of them than the three families' mean direction is.
        let families = (0 ..< 3).map { axis in (images: [unit(axis, d, noise: 0.05)], texts: [unit(axis, d, noise: 0.05)]) }
        let between: [Float] = [1, 1, 0, 0]

        let single = TaskSelector(imageDimension: d, textDimension: d)
        single.addTask(name: "base", images: families.flatMap(\.images), texts: families.flatMap(\.texts))
        single.addTask(name: "new", images: [between], texts: [between])
        let prototypes = TaskSelector(imageDimension: d, textDimension: d)
        prototypes.addTask(name: "base", groups: families)
        prototypes.addTask(name: "new", images: [between], texts: [between])
        XCTAssertEqual(prototypes.prototypeCount(task: 0), 3)
        XCTAssertEqual(prototypes.prototypeCount(task: 1), 1)

        for axis in 0 ..< 3 {
            let query = unit(axis, d)
            XCTAssertEqual(single.select(image: query, text: query)?.name, axis == 2 ? "base" : "new", "one mean key, family \(axis)")
            XCTAssertEqual(prototypes.select(image: query, text: query)?.name, "base", "its own prototype keeps family \(axis)")
        }
        XCTAssertEqual(prototypes.select(image: between, text: between)?.name, "new")
    }

    /// Prototype keys survive saving and loading, and a shipped single key still loads as one prototype.
    func testPrototypeKeysRoundTrip() throws {
        let d = 3
        let selector = TaskSelector(imageDimension: d, textDimension: d)
        selector.addTask(name: "base", imageKey: [1, 0, 0, 0, 1, 0], textKey: [0, 0, 1, 1, 0, 0])
        selector.addTask(name: "task", imageKey: [0, 0, 1], textKey: [0, 1, 0])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("selector-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try AdapterFile.saveSelector(selector, tasks: selector.names, to: directory)
        let loaded = try XCTUnwrap(try AdapterFile.loadSelector(from: directory)).selector
        XCTAssertEqual(loaded.imageDimension, d)
        XCTAssertEqual(loaded.prototypeCount(task: 0), 2)
        XCTAssertEqual(loaded.prototypeCount(task: 1), 1)
        XCTAssertEqual(loaded.imageKeys[0].toArray(), [1, 0, 0, 0, 1, 0])
        XCTAssertEqual(loaded.select(image: [0, 1, 0], text: [1, 0, 0])?.name, "base", "the second prototype matches")
        XCTAssertEqual(loaded.select(image: [0, 0, 1], text: [0, 1, 0])?.name, "task")
    }

    /// Items in two separate groups give two prototypes, one per group; alignment pulls each item's nearest
    /// prototype (its gradient against finite differences).
    func testClusteredPrototypesAndTheirAlignment() {
        let d = 4
        let groupA = (0 ..< 5).map { i in unit(0, d, noise: 0.02 * Float(i + 1)) }
        let groupB = (0 ..< 5).map { i in unit(2, d, noise: 0.02 * Float(i + 1)) }
        // Two unequal, overlapping-direction groups: a cluster's size must not pull the other's members in.
        let big = (0 ..< 8).map { i -> [Float] in [1, 0.3, 0.01 * Float(i), 0] }
        let small = (0 ..< 3).map { i -> [Float] in [0.3, 1, 0, 0.01 * Float(i)] }
        let clusters = TaskSelector.clusters(images: big + small, texts: big + small, count: 2)
        XCTAssertEqual(Set(clusters.map(Set.init)), [Set(0 ..< 8), Set(8 ..< 11)])

        let selector = TaskSelector(imageDimension: d, textDimension: d)
        selector.addTask(name: "base", imageKey: unit(3, d), textKey: unit(3, d))
        let task = selector.addTask(name: "two", images: groupA + groupB, texts: groupA + groupB, prototypes: 2)
        XCTAssertEqual(selector.prototypeCount(task: task), 2)
        for (index, (_, key)) in selector.trainableKeys(task: task).enumerated() {
            key.copy(from: Tensor.uniform(key.shape, bound: 1, seed: UInt64(index + 5)))
        }
        let gradients = Gradients()
        gradients.register(selector.trainableKeys(task: task))
        let images = [groupA[0], groupB[1], groupA[2]], texts = [groupA[1], groupB[0], groupA[3]]
        XCTAssertGreaterThan(selector.alignmentLoss(task: task, images: images, texts: texts, gradients: gradients), 0)
        for (name, key) in selector.trainableKeys(task: task) {
            let analytic = gradients.of(key)!
            for i in 0 ..< key.count {
                let saved = key.data[i]
                key.data[i] = saved + 1e-3
                let plus = selector.alignmentLoss(task: task, images: images, texts: texts, gradients: nil)
                key.data[i] = saved - 1e-3
                let minus = selector.alignmentLoss(task: task, images: images, texts: texts, gradients: nil)
                key.data[i] = saved
                XCTAssertEqual(analytic.data[i], (plus - minus) / 2e-3, accuracy: 2e-2, "\(name)[\(i)]")
            }
        }
    }

    /// The question outweighs the image: a query whose question is near task A's and whose image is task B's
    /// goes to A (at equal weights B would win).
    func testQuestionOutweighsImage() {
        let d = 3
        let selector = TaskSelector(imageDimension: d, textDimension: d)
        selector.addTask(name: "a", imageKey: unit(0, d), textKey: unit(0, d))
        selector.addTask(name: "b", imageKey: unit(1, d), textKey: unit(1, d))
        let question: [Float] = [0.9, 0.436, 0]
        let choice = selector.select(image: unit(1, d), text: question)
        XCTAssertEqual(choice?.name, "a")
        XCTAssertEqual(choice?.scores[0] ?? 0, 0.9, accuracy: 1e-3)
        XCTAssertEqual(choice?.scores[1] ?? 0, TaskSelector.imageWeight + 0.436, accuracy: 1e-3)
        XCTAssertEqual(choice?.confidence ?? 0, (0.9 - TaskSelector.imageWeight - 0.436) / (1 + TaskSelector.imageWeight), accuracy: 1e-3)
    }

    /// Each group (a base family) is clustered on its own: two groups of two tight clusters give four
    /// prototypes, each the direction of one cluster, none mixing the groups.
    func testGroupsAreClusteredSeparately() {
        let d = 4
        func cluster(_ axis: Int) -> [[Float]] { (0 ..< 3).map { i in unit(axis, d, noise: 0.01 * Float(i + 1)) } }
        let first = cluster(0) + cluster(1), second = cluster(2) + cluster(3)
        let selector = TaskSelector(imageDimension: d, textDimension: d)
        selector.addTask(name: "base", groups: [(first, first), (second, second)], prototypesPerGroup: 2)
        XCTAssertEqual(selector.prototypeCount(task: 0), 4)
        let keys = selector.textKeys[0].toArray()
        let axes = (0 ..< 4).map { p -> Int in
            let row = Array(keys[p * d ..< (p + 1) * d])
            return row.indices.max { row[$0] < row[$1] }!
        }
        XCTAssertEqual(Set(axes), [0, 1, 2, 3])
        XCTAssertEqual(Set(axes[0 ..< 2]), [0, 1], "the first group's prototypes come from it alone")
        for axis in 0 ..< 4 {
            XCTAssertEqual(selector.bestPrototype(task: 0, image: unit(axis, d), text: unit(axis, d)).index, axes.firstIndex(of: axis))
        }
    }
}
