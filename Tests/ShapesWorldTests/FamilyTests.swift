import XCTest
@testable import ShapesWorld

final class FamilyTests: XCTestCase {
    private let world = ShapesWorld(seed: 11)

    func testEveryAnswerFollowsFromTheScene() throws {
        for family in QuestionFamily.allCases {
            for index in 0 ..< 40 {
                let (scene, question, answer) = world.question(family, index: index)
                let expected = try SceneOracle(scene: scene, question: question).answer(family)
                XCTAssertEqual(answer, expected, "\(family.rawValue) #\(index): \(question)")
            }
        }
    }

    func testAnswersStayInTheirSpaces() {
        let colours = Set(Colour.allCases.map(\.rawValue)), shapes = Set(ShapeKind.allCases.map(\.rawValue))
        let characters = Set(GlyphFont.characters.map { String($0) })
        func numbers(_ range: ClosedRange<Int>) -> Set<String> { Set(range.map(String.init)) }
        let spaces: [QuestionFamily: Set<String>] = [
            .colour: colours, .shape: shapes, .count: numbers(1 ... 5), .countSize: numbers(0 ... 4), .position: Set(GridCell.allCases.map(\.rawValue)),
            .size: shapes, .glyph: characters, .exists: ["yes", "no"], .existsPlural: ["yes", "no"], .relation: ["yes", "no"], .arithmetic: numbers(0 ... 18),
            .describe: Set(colours.flatMap { colour in shapes.map { "\(colour) \($0)" } }),
            .countColour: numbers(0 ... 4), .colourAt: colours, .shapeAt: shapes, .minus: numbers(0 ... 9),
            .biggestColour: colours, .oddShape: shapes, .glyphByColour: characters, .countShape: numbers(0 ... 4),
        ]
        for family in QuestionFamily.allCases {
            let answers = (0 ..< 60).map { world.question(family, index: $0).answer }
            XCTAssertTrue(Set(answers).isSubset(of: spaces[family]!), "\(family.rawValue): \(Set(answers).subtracting(spaces[family]!))")
            // No family collapses onto one answer.
            XCTAssertGreaterThanOrEqual(Set(answers).count, 2, family.rawValue)
        }
    }

    func testYesNoFamiliesAreRoughlyBalanced() {
        for family in [QuestionFamily.exists, .existsPlural, .relation] {
            let yes = (0 ..< 200).filter { world.question(family, index: $0).answer == "yes" }.count
            XCTAssertTrue((70 ... 130).contains(yes), "\(family.rawValue): \(yes)/200 yes")
        }
    }

    func testEachFamilyUsesAtLeastThreePhrasings() {
        // The question with every vocabulary word blanked out is its phrasing.
        var vocabulary = Set(Colour.allCases.map(\.rawValue) + ShapeKind.allCases.map(\.rawValue) + ShapeKind.allCases.map(\.plural))
        vocabulary.formUnion(["a", "an", "big", "large", "small"])
        for family in QuestionFamily.allCases {
            var skeletons = Set<String>()
            for index in 0 ..< 40 {
                var question = world.question(family, index: index).question
                for cell in GridCell.allCases.sorted(by: { $0.rawValue.count > $1.rawValue.count }) {
                    question = question.replacingOccurrences(of: cell.rawValue, with: "_")
                }
                let words = question.lowercased().split(separator: " ").map { word -> String in
                    let bare = word.filter(\.isLetter)
                    return vocabulary.contains(bare) ? "_" : String(word)
                }
                skeletons.insert(words.joined(separator: " "))
            }
            XCTAssertGreaterThanOrEqual(skeletons.count, 3, "\(family.rawValue): \(skeletons)")
            XCTAssertGreaterThanOrEqual(family.phrasings.count, 3, family.rawValue)
        }
    }

    func testBaseAndContinualSplit() {
        XCTAssertEqual(ShapesWorld.baseFamilies.count, 10)
        XCTAssertGreaterThanOrEqual(ShapesWorld.continualSequence.count, 6)
        XCTAssertTrue(Set(ShapesWorld.baseFamilies).isDisjoint(with: ShapesWorld.continualSequence))
        XCTAssertEqual(Set(ShapesWorld.baseFamilies).union(ShapesWorld.continualSequence).union([.countSize, .existsPlural]),
                       Set(QuestionFamily.allCases))
        XCTAssertEqual([QuestionFamily.count, .countColour, .countSize, .existsPlural].map(\.role), ["base", "continual", "pretraining", "pretraining"])
        XCTAssertEqual(QuestionFamily.parseList("base").families, ShapesWorld.baseFamilies)
        XCTAssertEqual(QuestionFamily.parseList("continual").families, ShapesWorld.continualSequence)
        let parsed = QuestionFamily.parseList("count, colour-at,count,bogus")
        XCTAssertEqual(parsed.families, [.count, .colourAt])
        XCTAssertEqual(parsed.unknown, ["bogus"])
    }

    func testOtherImageSizesWork() throws {
        for size in [32, 96] {
            let world = ShapesWorld(seed: 3, imageSize: size)
            for family in QuestionFamily.allCases {
                let sample = world.sample(family, index: 0)
                XCTAssertEqual(sample.image.width, size)
                XCTAssertEqual(sample.answer, try SceneOracle(scene: sample.scene, question: sample.question).answer(family))
            }
        }
    }
}
