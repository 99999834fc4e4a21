import Imaging
import XCTest
@testable import ShapesWorld

final class RenderingTests: XCTestCase {
    /// A point well inside each shape, in the unit box (u right, v up): the ring's is on its band.
    private func interior(_ kind: ShapeKind) -> (Double, Double) {
        switch kind {
        case .ring: return (0.78, 0)
        case .triangle: return (0, -0.2)
        default: return (0, 0)
        }
    }

    private func pixel(_ image: RGBImage, _ x: Int, _ y: Int) -> [Int] {
        let index = (y * image.width + x) * 3
        return (0 ..< 3).map { Int(image.pixels[index + $0]) }
    }

    func testObjectsHaveTheirColourWhereTheyAreAndBackgroundIsGrey() {
        let world = ShapesWorld(seed: 21)
        for family in QuestionFamily.allCases {
            for sample in world.generate(family: family, count: 12) {
                let scene = sample.scene, noise = scene.background.noise
                for object in scene.objects {
                    let expected = [Int(object.rgb.red), Int(object.rgb.green), Int(object.rgb.blue)]
                    // The drawn colour is the nominal one within the jitter.
                    let nominal = object.colour.rgb
                    XCTAssertTrue(zip(expected, [nominal.red, nominal.green, nominal.blue]).allSatisfy { abs($0 - Int($1)) <= 12 })
                    let x: Int, y: Int
                    switch object.kind {
                    case .shape(let kind):
                        let (u, v) = interior(kind)
                        x = Int(object.centreX + u * object.halfWidth)
                        y = Int(object.centreY - v * object.halfWidth)
                    case .glyph(let character, let scale):
                        let ink = (0 ..< GlyphFont.width * GlyphFont.height).first {
                            GlyphFont.ink(character, column: $0 % GlyphFont.width, row: $0 / GlyphFont.width)
                        }!
                        x = Int(object.minX.rounded()) + (ink % GlyphFont.width) * scale + scale / 2
                        y = Int(object.minY.rounded()) + (ink / GlyphFont.width) * scale + scale / 2
                    }
                    let found = pixel(sample.image, x, y)
                    XCTAssertTrue(zip(found, expected).allSatisfy { abs($0 - $1) <= noise },
                                  "\(family.rawValue) \(object.kind) at (\(x), \(y)): \(found) vs \(expected) ± \(noise)")
                }
                // Glyphs exactly: every ink block in the glyph's colour, every other font cell grey.
                for object in scene.objects {
                    guard case .glyph(let character, let scale) = object.kind else { continue }
                    let left = Int(object.minX.rounded()), top = Int(object.minY.rounded())
                    let colour = [Int(object.rgb.red), Int(object.rgb.green), Int(object.rgb.blue)]
                    for row in 0 ..< GlyphFont.height {
                        for column in 0 ..< GlyphFont.width {
                            let ink = GlyphFont.ink(character, column: column, row: row)
                            for y in top + row * scale ..< top + (row + 1) * scale {
                                for x in left + column * scale ..< left + (column + 1) * scale {
                                    let value = pixel(sample.image, x, y)
                                    if ink {
                                        XCTAssertTrue(zip(value, colour).allSatisfy { abs($0 - $1) <= noise }, "\(character) ink at (\(x), \(y))")
                                    } else {
                                        XCTAssertTrue(value[0] == value[1] && value[1] == value[2], "\(character) gap at (\(x), \(y))")
                                    }
                                }
                            }
                        }
                    }
                }
                // Pixels two or more away from every box are grey background.
                for y in stride(from: 0, to: scene.size, by: 3) {
                    for x in stride(from: 0, to: scene.size, by: 3) {
                        let near = scene.objects.contains { object in
                            Double(x) > object.minX - 2 && Double(x) < object.maxX + 2 && Double(y) > object.minY - 2 && Double(y) < object.maxY + 2
                        }
                        if near { continue }
                        let value = pixel(sample.image, x, y)
                        XCTAssertTrue(value[0] == value[1] && value[1] == value[2], "\(family.rawValue): colour \(value) on the background")
                    }
                }
            }
        }
    }

    func testObjectsNeverOverlapAndStayInside() {
        let world = ShapesWorld(seed: 4)
        for family in QuestionFamily.allCases {
            for sample in world.generate(family: family, count: 20) {
                let objects = sample.scene.objects
                for (i, a) in objects.enumerated() {
                    XCTAssertTrue(a.minX >= 0 && a.minY >= 0 && a.maxX <= 64 && a.maxY <= 64)
                    for b in objects[(i + 1)...] { XCTAssertFalse(a.overlaps(b, gap: 1.9), family.rawValue) }
                }
            }
        }
    }

    func testColoursAreFarApartAndFromTheBackground() {
        func distance(_ a: RGB, _ b: RGB) -> Double {
            let d = [Int(a.red) - Int(b.red), Int(a.green) - Int(b.green), Int(a.blue) - Int(b.blue)]
            return Double(d.map { $0 * $0 }.reduce(0, +)).squareRoot()
        }
        let colours = Colour.allCases
        for (i, a) in colours.enumerated() {
            for b in colours[(i + 1)...] { XCTAssertGreaterThan(distance(a.rgb, b.rgb), 80, "\(a) vs \(b)") }
            let style = ShapesStyle(imageSize: 64)
            for grey in (style.backgroundShades.lowerBound - style.textureContrast.upperBound) ... (style.backgroundShades.upperBound + 2 * style.textureContrast.upperBound) {
                XCTAssertGreaterThan(distance(a.rgb, RGB(UInt8(grey), UInt8(grey), UInt8(grey))), 60, "\(a) vs grey \(grey)")
            }
        }
    }

    func testShapesAreDistinctAtSmallSize() {
        // Rasterise each shape alone at the small size: every pair differs in many pixels.
        let style = ShapesStyle(imageSize: 64)
        func mask(_ kind: ShapeKind) -> [Bool] {
            let object = SceneObject(kind: .shape(kind), colour: .white, size: .small, rgb: RGB(255, 255, 255), centreX: 32, centreY: 32,
                                     halfWidth: style.smallRadius, halfHeight: style.smallRadius)
            let image = SceneRenderer.render(Scene(size: 64, background: Background(shade: 0), objects: [object]))
            return stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] > 127 }
        }
        let masks = ShapeKind.allCases.map(mask)
        for i in masks.indices {
            XCTAssertGreaterThan(masks[i].filter { $0 }.count, 60, "\(ShapeKind.allCases[i]) is too small")
            for j in masks.indices where j > i {
                let differing = zip(masks[i], masks[j]).filter { $0 != $1 }.count
                XCTAssertGreaterThanOrEqual(differing, 20, "\(ShapeKind.allCases[i]) vs \(ShapeKind.allCases[j])")
            }
        }
    }

    func testFontHasAllThirtySixDistinctGlyphs() {
        XCTAssertEqual(GlyphFont.characters.count, 36)
        XCTAssertEqual(String(GlyphFont.characters), "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        let bitmaps = GlyphFont.characters.map(GlyphFont.bitmap)
        for (character, bitmap) in zip(GlyphFont.characters, bitmaps) {
            XCTAssertEqual(bitmap.count, 35, String(character))
            XCTAssertGreaterThanOrEqual(bitmap.filter { $0 }.count, 8, "\(character) has too little ink")
        }
        for i in bitmaps.indices {
            for j in bitmaps.indices where j > i {
                let differing = zip(bitmaps[i], bitmaps[j]).filter { $0 != $1 }.count
                // At least two font pixels (18 image pixels at 64 px) tell any two glyphs apart.
                XCTAssertGreaterThanOrEqual(differing, 2, "\(GlyphFont.characters[i]) vs \(GlyphFont.characters[j])")
            }
        }
    }
}
