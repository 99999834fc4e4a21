import XCTest
@testable import ShapesWorld

/// `ShapesSample.referents` (where pretraining's attention supervision points) name the objects the
/// question is about, checked from the question's words and the scene.
final class ReferentTests: XCTestCase {
    private let world = ShapesWorld(seed: 5)

    private func words(_ question: String) -> [String] {
        question.lowercased().split { !$0.isLetter }.map(String.init)
    }

    func testReferentsNameTheQuestionsObjects() {
        for family in ShapesWorld.baseFamilies {
            for index in 0 ..< 40 {
                let sample = world.sample(family, index: index)
                let objects = sample.scene.objects, referents = sample.referents, asked = words(sample.question)
                let label = "\(family.rawValue) #\(index): \(sample.question) → \(sample.answer)"
                func shapeIndex(_ object: Int) -> Int? { objects[object].shape.flatMap { asked.firstIndex(of: $0.rawValue) } }
                switch family {
                case .count:
                    XCTAssertTrue(referents.isEmpty, label)
                case .colour, .position:
                    XCTAssertEqual(referents.count, 1, label)
                    XCTAssertNotNil(shapeIndex(referents[0][0]), label)
                    if family == .colour { XCTAssertEqual(objects[referents[0][0]].colour.rawValue, sample.answer, label) }
                case .shape:
                    XCTAssertTrue(asked.contains(objects[referents[0][0]].colour.rawValue), label)
                    XCTAssertEqual(objects[referents[0][0]].shape?.rawValue, sample.answer, label)
                case .describe, .glyph:
                    XCTAssertEqual(referents, [[family == .glyph ? objects.firstIndex { $0.glyph != nil }! : 0]], label)
                case .size:
                    // The two named shapes, in the question's order.
                    let positions = referents.map { shapeIndex($0[0])! }
                    XCTAssertEqual(referents.count, 2, label)
                    XCTAssertLessThan(positions[0], positions[1], label)
                case .exists:
                    XCTAssertEqual(referents.count, 1, label)
                    XCTAssertEqual(referents[0].isEmpty, sample.answer == "no", label)
                    for object in referents[0] {
                        XCTAssertTrue(asked.contains(objects[object].colour.rawValue) && shapeIndex(object) != nil, label)
                    }
                case .relation:
                    XCTAssertEqual(referents.count, 4, label)
                    XCTAssertLessThan(shapeIndex(referents[0][0])!, shapeIndex(referents[1][0])!, label)
                    XCTAssertEqual(referents[2], sample.answer == "yes" ? referents[0] : referents[1], label)
                    XCTAssertEqual(referents[3], sample.answer == "yes" ? referents[0] : [], label)
                    // The third is the one the asked relation puts first.
                    let words = sample.question.lowercased()
                    let (first, second) = (objects[referents[2][0]], objects[referents[2] == referents[0] ? referents[1][0] : referents[0][0]])
                    if words.contains("left") { XCTAssertLessThan(first.centreX, second.centreX, label) }
                    if words.contains("right") { XCTAssertGreaterThan(first.centreX, second.centreX, label) }
                    if words.contains("above") || words.contains("higher") || words.contains("over") {
                        XCTAssertLessThan(first.centreY, second.centreY, label)
                    }
                    if words.contains("below") || words.contains("lower") || words.contains("under") {
                        XCTAssertGreaterThan(first.centreY, second.centreY, label)
                    }
                case .arithmetic:
                    XCTAssertLessThan(objects[referents[0][0]].centreX, objects[referents[1][0]].centreX, "left digit first: \(label)")
                default:
                    XCTFail("no check for \(family.rawValue)")
                }
            }
        }
    }

    /// Patches of the named objects, and the first token (−1) for a named object that is not there.
    func testPatchesOfReferents() {
        let sample = world.sample(.relation, index: 3)
        let labels = PatchLabels.labels(of: sample.scene, patchSize: 8)
        let patches = PatchLabels.patches(of: [[0], [], [0, 1]], in: sample.scene, patchSize: 8)
        XCTAssertEqual(patches[1], [PatchLabels.nothing])
        XCTAssertFalse(patches[0].isEmpty)
        // Every patch labelled with object 0's identity and colour is among its patches.
        let object = sample.scene.objects[0]
        let identity = 1 + ShapeKind.allCases.firstIndex(of: object.shape!)!, colour = 1 + Colour.allCases.firstIndex(of: object.colour)!
        for patch in labels[0].indices where labels[0][patch] == identity && labels[1][patch] == colour {
            XCTAssertTrue(patches[0].contains(patch), "patch \(patch)")
        }
        XCTAssertTrue(Set(patches[0]).isSubset(of: Set(patches[2])), "two objects cover at least what one covers")
        let together = PatchLabels.labelsAndPatches(of: sample.scene, referents: [[0], [], [0, 1]], patchSize: 8)
        XCTAssertEqual(together.labels, labels)
        XCTAssertEqual(together.patches, patches)
    }
}
