import Imaging
import XCTest
@testable import ShapesWorld

final class DeterminismTests: XCTestCase {
    func testSameSeedGivesIdenticalItemsAndBytes() {
        for family in QuestionFamily.allCases {
            let first = ShapesWorld(seed: 5).generate(family: family, count: 20)
            let second = ShapesWorld(seed: 5).generate(family: family, count: 20)
            XCTAssertEqual(first.map(\.question), second.map(\.question), family.rawValue)
            XCTAssertEqual(first.map(\.answer), second.map(\.answer), family.rawValue)
            XCTAssertEqual(first.map(\.scene), second.map(\.scene), family.rawValue)
            XCTAssertEqual(first.map(\.image), second.map(\.image), family.rawValue)
            XCTAssertEqual(first.map { PNGEncoder.encode($0.image) }, second.map { PNGEncoder.encode($0.image) }, family.rawValue)
        }
    }

    func testDifferentSeedsFamiliesAndIndicesDiffer() {
        let a = ShapesWorld(seed: 1).generate(family: .colour, count: 20)
        let b = ShapesWorld(seed: 2).generate(family: .colour, count: 20)
        XCTAssertNotEqual(a.map(\.image), b.map(\.image))
        XCTAssertEqual(Set(a.map(\.image.pixels)).count, 20, "items within a stream differ")
        let shape = ShapesWorld(seed: 1).generate(family: .shape, count: 20)
        XCTAssertNotEqual(a.map(\.scene.background), shape.map(\.scene.background))
        let heldOut = ShapesWorld(seed: 1).generate(family: .colour, count: 20, start: ShapesWorld.heldOutStart)
        XCTAssertTrue(Set(a.map(\.image.pixels)).isDisjoint(with: heldOut.map(\.image.pixels)))
    }

    func testItemsDoNotDependOnHowTheyAreDrawn() {
        let world = ShapesWorld(seed: 9)
        let batch = world.generate(family: .relation, count: 40, start: 100)
        for offset in [0, 17, 39] {
            let single = world.sample(.relation, index: 100 + offset)
            XCTAssertEqual(single.image, batch[offset].image)
            XCTAssertEqual(single.question, batch[offset].question)
        }
        let families = [QuestionFamily.count, .glyph, .describe]
        let mixed = world.generateMixed(families: families, count: 30)
        XCTAssertEqual(mixed.map(\.family), (0 ..< 30).map { families[$0 % 3].rawValue })
        XCTAssertEqual(mixed[7].image, world.sample(.glyph, index: 2).image)
    }

    /// Families come in proportion to their weights, a zero weight never comes, and item `i` of the mix
    /// is item `i` of its family (so a stream counting up never repeats a scene).
    func testWeightedMixFollowsTheWeights() {
        let world = ShapesWorld(seed: 4)
        let families = [QuestionFamily.count, .glyph, .describe]
        let indices = 0 ..< 4000
        let drawn = indices.map { world.weightedSample(families: families, weights: [1, 3, 0], index: $0) }
        let glyphs = drawn.filter { $0.family == "glyph" }.count
        XCTAssertEqual(Double(glyphs) / Double(indices.count), 0.75, accuracy: 0.025)
        XCTAssertFalse(drawn.contains { $0.family == "describe" })
        for index in [0, 5, 3999] {
            let item = drawn[index]
            XCTAssertEqual(item.image, world.sample(QuestionFamily(rawValue: item.family)!, index: index).image)
        }
        let parallel = world.generateWeighted(families: families, weights: [1, 3, 0], count: 40, start: 100)
        XCTAssertEqual(parallel.map(\.question), drawn[100 ..< 140].map(\.question))
    }

    func testXoshiroMatchesTheReferenceSequence() {
        // xoshiro256** from state (1, 2, 3, 4): outputs of the authors' reference C code.
        var generator = Xoshiro256(state: (1, 2, 3, 4))
        XCTAssertEqual((0 ..< 10).map { _ in generator.next() },
                       [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240, 1_216_172_134_540_287_360,
                        607_988_272_756_665_600, 16_172_922_978_634_559_625, 8_476_171_486_693_032_832,
                        10_595_114_339_597_558_777, 2_904_607_092_377_533_576])
    }

    func testFNVMatchesPublishedValues() {
        // FNV-1a 64 test vectors from the FNV reference (Noll): "" and "a".
        XCTAssertEqual(StableHash.fnv1a(""), 0xCBF2_9CE4_8422_2325)
        XCTAssertEqual(StableHash.fnv1a("a"), 0xAF63_DC4C_8601_EC8C)
        XCTAssertEqual(StableHash.fnv1a("foobar"), 0x8594_4171_F739_67E8)
    }
}
