import XCTest
@testable import ShapesWorld

final class PatchLabelTests: XCTestCase {
    private func object(_ kind: SceneObject.Kind, _ colour: Colour, _ size: ObjectSize, x: Double, y: Double, half: Double,
                        halfHeight: Double? = nil) -> SceneObject {
        SceneObject(kind: kind, colour: colour, size: size, rgb: colour.rgb, centreX: x, centreY: y, halfWidth: half,
                    halfHeight: halfHeight ?? half)
    }

    /// A square filling patch (1, 1) exactly and a glyph box over patches (5…6, 4): those patches carry the
    /// objects' identity, colour and size, every other patch is background (no identity target).
    func testLabelsFollowTheObjectsThatCoverEachPatch() {
        var scene = Scene(size: 64, background: Background(shade: 120))
        // The square's body is |u|, |v| ≤ 0.82 of the radius: radius 4/0.82 puts its edges on pixels 8 and 16.
        scene.objects.append(object(.shape(.square), .blue, .small, x: 12, y: 12, half: 4 / 0.82))
        scene.objects.append(object(.glyph("Q", scale: 1), .red, .large, x: 48, y: 36, half: 8, halfHeight: 4))
        let labels = PatchLabels.labels(of: scene, patchSize: 8)
        XCTAssertEqual(labels.count, PatchLabels.classCounts(grid: 8).count)
        let squareIdentity = 1 + ShapeKind.allCases.firstIndex(of: .square)!
        let glyphIdentity = 1 + ShapeKind.allCases.count + GlyphFont.characters.firstIndex(of: "Q")!
        var expected = [[Int](repeating: -1, count: 64)]  // identity: objects only
        expected += [[Int]](repeating: [Int](repeating: 0, count: 64), count: 2)
        expected += [(0 ..< 64).map { $0 / 8 }, (0 ..< 64).map { $0 % 8 }]  // each patch's row and column
        expected.append([Int](repeating: -1, count: 64))  // which glyph, on glyph patches only
        expected[0][9] = squareIdentity; expected[1][9] = 1 + Colour.allCases.firstIndex(of: .blue)!; expected[2][9] = 1
        for patch in [4 * 8 + 5, 4 * 8 + 6] {
            expected[0][patch] = glyphIdentity; expected[1][patch] = 1 + Colour.allCases.firstIndex(of: .red)!; expected[2][patch] = 2
            expected[5][patch] = GlyphFont.characters.firstIndex(of: "Q")!
        }
        XCTAssertEqual(labels, expected)
        XCTAssertEqual(labels[3][2 * 8 + 5], 2, "row of patch (2, 5)")
        XCTAssertEqual(labels[4][2 * 8 + 5], 5, "column of patch (2, 5)")
        for (set, count) in zip(labels, PatchLabels.classCounts(grid: 8)) { XCTAssertTrue(set.allSatisfy { (-1 ..< count).contains($0) }) }
    }

    /// Chosen label sets come in the asked order; `objects` puts the scene's object count (at most
    /// `maxObjects`) on every patch.
    func testObjectsSetCountsTheScenesObjectsOnEveryPatch() {
        var scene = Scene(size: 64, background: Background(shade: 120))
        scene.objects.append(object(.shape(.circle), .green, .small, x: 12, y: 12, half: 4))
        scene.objects.append(object(.glyph("7", scale: 1), .red, .small, x: 40, y: 40, half: 4))
        let labels = PatchLabels.labels(of: scene, patchSize: 8, sets: [.objects, .column])
        XCTAssertEqual(labels, [[Int](repeating: 2, count: 64), (0 ..< 64).map { $0 % 8 }])
        XCTAssertEqual(PatchLabels.classCounts(grid: 8, sets: [.objects, .column]), [PatchLabels.maxObjects + 1, 8])
        for i in 0 ..< 10 { scene.objects.append(object(.shape(.square), .blue, .small, x: 4 + 6 * Double(i), y: 58, half: 2)) }
        XCTAssertEqual(Set(PatchLabels.labels(of: scene, patchSize: 8, sets: [.objects])[0]), [PatchLabels.maxObjects])
        XCTAssertEqual(PatchLabels.LabelSet.parseList("identity, objects,stripes").sets, [.identity, .objects])
        XCTAssertEqual(PatchLabels.LabelSet.parseList("identity, objects,stripes").unknown, ["stripes"])
    }

    /// `column-order` is one yes/no head per column boundary: head k says whether the patch's column is k or
    /// further right, on every patch; the heads come where the set is named, among the other sets' heads.
    func testColumnOrderIsAThermometerCodeOfTheColumn() {
        var scene = Scene(size: 64, background: Background(shade: 120))
        scene.objects.append(object(.shape(.circle), .green, .small, x: 12, y: 12, half: 4))
        let labels = PatchLabels.labels(of: scene, patchSize: 8, sets: [.row, .columnOrder, .column])
        XCTAssertEqual(labels.count, 1 + 7 + 1)
        XCTAssertEqual(PatchLabels.classCounts(grid: 8, sets: [.row, .columnOrder, .column]), [8, 2, 2, 2, 2, 2, 2, 2, 8])
        XCTAssertEqual(PatchLabels.LabelSet.columnOrder.headNames(grid: 4), ["column-order≥1", "column-order≥2", "column-order≥3"])
        for patch in 0 ..< 64 {
            let code = (1 ... 7).map { labels[$0][patch] }
            XCTAssertEqual(code.reduce(0, +), patch % 8, "patch \(patch): the number of boundaries to its left")
            XCTAssertEqual(code, code.sorted(by: >), "patch \(patch): ones then zeros")
        }
        XCTAssertEqual(labels[8], (0 ..< 64).map { $0 % 8 })
    }

    /// `centre` marks one patch per object, the one holding its centre, whatever the object's size: a scene's
    /// objects are its centre patches, and the rest of each object is 0, background no target.
    func testCentreSetMarksOnePatchPerObject() {
        let world = ShapesWorld(seed: 5)
        for index in 0 ..< 40 {
            let scene = world.question(.countSize, index: index).scene
            let centre = PatchLabels.labels(of: scene, patchSize: 8, sets: [.centre])[0]
            XCTAssertEqual(centre.filter { $0 == 1 }.count, scene.objects.count, "scene \(index)")
            let identity = PatchLabels.labels(of: scene, patchSize: 8, sets: [.identity])[0]
            for patch in centre.indices where centre[patch] == 0 { XCTAssertGreaterThan(identity[patch], 0, "a 0 is on an object") }
            let large = scene.objects.filter { $0.size == .large }
            if !large.isEmpty { XCTAssertGreaterThan(centre.filter { $0 >= 0 }.count, scene.objects.count, "big objects cover more than their centre") }
        }
    }

    /// A patch only grazed by an object (less than an eighth of its pixels) stays background.
    func testGrazedPatchesStayBackground() {
        var scene = Scene(size: 64, background: Background(shade: 120))
        // A circle of radius 5 centred at (20, 20): it reaches 1 pixel column into patch column 3 (x ≥ 24).
        scene.objects.append(object(.shape(.circle), .green, .small, x: 20, y: 20, half: 5))
        let identity = PatchLabels.labels(of: scene, patchSize: 8)[0]
        let circle = 1 + ShapeKind.allCases.firstIndex(of: .circle)!
        XCTAssertEqual(identity[2 * 8 + 2], circle)
        XCTAssertEqual(identity[2 * 8 + 3], -1, "one column of a patch is under an eighth of it")
    }

    /// Every generated family gives labels of the right length, and each large object's centre patch is
    /// labelled with it (a ring's centre is its hole, which shows background).
    func testGeneratedScenesLabelTheirObjects() {
        let world = ShapesWorld(seed: 3)
        for family in QuestionFamily.allCases {
            for sample in world.generate(family: family, count: 6) {
                let labels = PatchLabels.labels(of: sample.scene, patchSize: 8)
                XCTAssertTrue(labels.allSatisfy { $0.count == 64 })
                for object in sample.scene.objects where object.size == .large && object.shape != .ring {
                    let patch = Int(object.centreY) / 8 * 8 + Int(object.centreX) / 8
                    XCTAssertEqual(labels[1][patch], 1 + Colour.allCases.firstIndex(of: object.colour)!, "\(family) \(object)")
                }
            }
        }
    }
}
