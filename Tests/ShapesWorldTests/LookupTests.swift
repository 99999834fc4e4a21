import XCTest
@testable import ShapesWorld

/// `ShapesSample.lookups` (where pretraining's attention supervision points) name the objects and words
/// the question is about, checked from the question's words and the scene.
final class LookupTests: XCTestCase {
    private let world = ShapesWorld(seed: 5)

    private func words(_ question: String) -> [String] {
        question.lowercased().split { !$0.isLetter }.map(String.init)
    }

    func testLookupsNameTheQuestionsObjectsAndWords() {
        for family in QuestionFamily.allCases where family.role != "continual" {
            for index in 0 ..< 40 {
                let sample = world.sample(family, index: index)
                let objects = sample.scene.objects, lookups = sample.lookups, asked = words(sample.question)
                let label = "\(family.rawValue) #\(index): \(sample.question) → \(sample.answer)"
                func shapeIndex(_ object: Int) -> Int? { objects[object].shape.flatMap { asked.firstIndex(of: $0.rawValue) } }
                // The slots a family sets; every other slot stays unsupervised.
                var set: Set<LookupSlot> = []
                func found(_ slot: LookupSlot) -> [Int] {
                    set.insert(slot)
                    guard let found = lookups[objects: slot] else { XCTFail("\(slot) unset: \(label)"); return [] }
                    return found
                }
                func word(_ slot: LookupSlot) -> String {
                    set.insert(slot)
                    guard let word = lookups[word: slot] else { XCTFail("\(slot) word unset: \(label)"); return "" }
                    XCTAssertTrue(asked.contains(word), "\(word) not in \(label)")
                    return word
                }
                switch family {
                case .count, .countSize:
                    break
                case .colour, .position:
                    let named = found(.firstByShape)
                    XCTAssertEqual(named.count, 1, label)
                    XCTAssertEqual(objects[named[0]].shape?.rawValue, word(.firstShapeWord), label)
                    if family == .colour { XCTAssertEqual(objects[named[0]].colour.rawValue, sample.answer, label) }
                case .shape:
                    let named = found(.byColour)
                    XCTAssertEqual(named.count, 1, label)
                    XCTAssertEqual(objects[named[0]].colour.rawValue, word(.colourWord), label)
                    XCTAssertEqual(objects[named[0]].shape?.rawValue, sample.answer, label)
                case .describe, .glyph:
                    XCTAssertEqual(found(.firstByShape), [family == .glyph ? objects.firstIndex { $0.glyph != nil }! : 0], label)
                case .size:
                    // The two named shapes, in the question's order.
                    let first = found(.firstByShape), second = found(.secondByShape)
                    XCTAssertLessThan(shapeIndex(first[0])!, shapeIndex(second[0])!, label)
                    XCTAssertEqual(objects[first[0]].shape?.rawValue, word(.firstShapeWord), label)
                    XCTAssertEqual(objects[second[0]].shape?.rawValue, word(.secondShapeWord), label)
                case .exists:
                    // Every object of the named shape, every object of the named colour, and those of both.
                    let shape = word(.firstShapeWord), colour = word(.colourWord)
                    let shaped = objects.indices.filter { objects[$0].shape?.rawValue == shape }
                    let coloured = objects.indices.filter { objects[$0].colour.rawValue == colour }
                    XCTAssertEqual(found(.firstByShape), shaped, label)
                    XCTAssertEqual(found(.byColour), coloured, label)
                    XCTAssertEqual(found(.answerObject), shaped.filter(coloured.contains), label)
                    XCTAssertEqual(found(.answerObject).isEmpty, sample.answer == "no", label)
                case .existsPlural:
                    // Every object of the shape the question names in the plural; none when the answer is no.
                    let plural = word(.firstShapeWord)
                    let shaped = objects.indices.filter { objects[$0].shape?.plural == plural }
                    XCTAssertEqual(found(.firstByShape), shaped, label)
                    XCTAssertEqual(found(.answerObject), shaped, label)
                    XCTAssertEqual(shaped.isEmpty, sample.answer == "no", label)
                case .relation:
                    let a = found(.firstByShape), b = found(.secondByShape), first = found(.relationFirst)
                    XCTAssertLessThan(shapeIndex(a[0])!, shapeIndex(b[0])!, label)
                    XCTAssertEqual(objects[a[0]].shape?.rawValue, word(.firstShapeWord), label)
                    XCTAssertEqual(objects[b[0]].shape?.rawValue, word(.secondShapeWord), label)
                    XCTAssertEqual(first, sample.answer == "yes" ? a : b, label)
                    XCTAssertEqual(found(.answerObject), sample.answer == "yes" ? a : [], label)
                    // The third is the one the asked relation puts first.
                    let words = sample.question.lowercased()
                    let (one, other) = (objects[first[0]], objects[first == a ? b[0] : a[0]])
                    if words.contains("left") { XCTAssertLessThan(one.centreX, other.centreX, label) }
                    if words.contains("right") { XCTAssertGreaterThan(one.centreX, other.centreX, label) }
                    if words.contains("above") || words.contains("higher") || words.contains("over") {
                        XCTAssertLessThan(one.centreY, other.centreY, label)
                    }
                    if words.contains("below") || words.contains("lower") || words.contains("under") {
                        XCTAssertGreaterThan(one.centreY, other.centreY, label)
                    }
                case .arithmetic:
                    let left = found(.firstByShape), right = found(.secondByShape)
                    XCTAssertLessThan(objects[left[0]].centreX, objects[right[0]].centreX, "left digit first: \(label)")
                default:
                    XCTFail("no check for \(family.rawValue)")
                }
                for slot in LookupSlot.allCases where !set.contains(slot) {
                    XCTAssertNil(lookups[objects: slot], "\(slot): \(label)")
                    XCTAssertNil(lookups[word: slot], "\(slot) word: \(label)")
                }
            }
        }
    }

    /// Patches of the named objects, and the first token (−1) for a named object that is not there.
    func testPatchesOfReferents() {
        let sample = world.sample(.relation, index: 3)
        let labels = PatchLabels.labels(of: sample.scene, patchSize: 8)
        let patches = PatchLabels.patches(of: [[0], [], [0, 1], nil], in: sample.scene, patchSize: 8)
        XCTAssertEqual(patches[1], [PatchLabels.nothing])
        XCTAssertEqual(patches[3], [], "an unsupervised slot has no targets")
        XCTAssertFalse(patches[0].isEmpty)
        // Every patch labelled with object 0's identity and colour is among its patches.
        let object = sample.scene.objects[0]
        let identity = 1 + ShapeKind.allCases.firstIndex(of: object.shape!)!, colour = 1 + Colour.allCases.firstIndex(of: object.colour)!
        for patch in labels[0].indices where labels[0][patch] == identity && labels[1][patch] == colour {
            XCTAssertTrue(patches[0].contains(patch), "patch \(patch)")
        }
        XCTAssertTrue(Set(patches[0]).isSubset(of: Set(patches[2])), "two objects cover at least what one covers")
        let together = PatchLabels.labelsAndPatches(of: sample.scene, objects: [[0], [], [0, 1], nil], patchSize: 8)
        XCTAssertEqual(together.labels, labels)
        XCTAssertEqual(together.patches, patches)
    }
}
