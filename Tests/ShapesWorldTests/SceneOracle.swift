import XCTest
@testable import ShapesWorld

/// Answers a question from the scene description and the question's words alone — written separately from
/// the generators, so a generator that draws one thing and answers another is caught. Also asserts that
/// the question is unambiguous for the scene (exactly one referent, clear separation).
struct SceneOracle {
    let scene: Scene
    let question: String

    var words: [String] { question.lowercased().split(whereSeparator: { !$0.isLetter }).map(String.init) }

    var colours: [Colour] { words.compactMap { Colour(rawValue: $0) } }

    /// Shape words in order of appearance (singular or plural).
    var shapes: [ShapeKind] {
        words.compactMap { word in ShapeKind.allCases.first { $0.rawValue == word || $0.plural == word } }
    }

    /// The longest grid-cell name in the question.
    var cell: GridCell? {
        GridCell.allCases.filter { question.contains(" \($0.rawValue)") }.max { $0.rawValue.count < $1.rawValue.count }
    }

    func only(_ objects: [SceneObject], _ what: String) throws -> SceneObject {
        guard objects.count == 1 else {
            throw Failure("\(question): \(objects.count) objects match \(what), expected exactly one")
        }
        return objects[0]
    }

    func answer(_ family: QuestionFamily) throws -> String {
        let objects = scene.objects
        let size = Double(scene.size)
        switch family {
        case .colour:
            return try only(objects.filter { $0.shape == shapes.first }, "the shape").colour.rawValue
        case .shape:
            return try only(objects.filter { $0.colour == colours.first && $0.shape != nil }, "the colour").shape!.rawValue
        case .count:
            guard scene.glyphs.isEmpty else { throw Failure("count scenes hold only shapes") }
            return String(objects.count)
        case .countSize:
            let asked: ObjectSize = words.contains("small") ? .small : .large
            guard words.contains("small") != (words.contains("big") || words.contains("large")) else { throw Failure("\(question): names no one size") }
            guard objects.count >= 2 else { throw Failure("\(question): fewer than two objects") }
            return String(objects.filter { $0.size == asked }.count)
        case .position:
            let target = try only(objects.filter { $0.shape == shapes.first }, "the shape")
            let third = size / 3
            let distance = [target.centreX, target.centreY].map { value in
                min(value.truncatingRemainder(dividingBy: third), third - value.truncatingRemainder(dividingBy: third))
            }.min()!
            guard distance >= 0.05 * size else { throw Failure("\(question): centre \(distance) px from a cell border") }
            return target.cell(imageSize: scene.size).rawValue
        case .size:
            guard shapes.count == 2 else { throw Failure("\(question): expected two shapes") }
            let a = try only(objects.filter { $0.shape == shapes[0] }, "a"), b = try only(objects.filter { $0.shape == shapes[1] }, "b")
            guard a.size != b.size else { throw Failure("\(question): both the same size") }
            return (a.size == .large ? a : b).shape!.rawValue
        case .glyph:
            let glyph = try only(scene.glyphs, "a glyph")
            guard !scene.shapes.contains(where: { [.ring, .circle, .cross].contains($0.shape!) }) else {
                throw Failure("a glyph scene holds a shape that looks like a character")
            }
            return String(glyph.glyph!)
        case .existsPlural:
            guard colours.isEmpty, shapes.count == 1, words.contains(shapes[0].plural) else { throw Failure("\(question): expected one shape, in the plural") }
            return objects.contains { $0.shape == shapes[0] } ? "yes" : "no"
        case .exists:
            guard colours.count == 1, shapes.count == 1 else { throw Failure("\(question): expected one colour and one shape") }
            return objects.contains { $0.colour == colours[0] && $0.shape == shapes[0] } ? "yes" : "no"
        case .relation:
            guard shapes.count == 2 else { throw Failure("\(question): expected two shapes") }
            let a = try only(objects.filter { $0.shape == shapes[0] }, "a"), b = try only(objects.filter { $0.shape == shapes[1] }, "b")
            let set = Set(words)
            let (first, second, horizontal): (SceneObject, SceneObject, Bool)
            if set.contains("left") { (first, second, horizontal) = (a, b, true) }
            else if set.contains("right") { (first, second, horizontal) = (b, a, true) }
            else if !set.isDisjoint(with: ["above", "higher", "over"]) { (first, second, horizontal) = (a, b, false) }
            else if !set.isDisjoint(with: ["below", "lower", "under"]) { (first, second, horizontal) = (b, a, false) }
            else { throw Failure("\(question): no relation word") }
            // "first is left of / above second": true if the boxes are apart that way, false if apart the other way.
            let before = horizontal ? first.maxX < second.minX : first.maxY < second.minY
            let after = horizontal ? second.maxX < first.minX : second.maxY < first.minY
            guard before != after else { throw Failure("\(question): objects not separated along the asked axis") }
            return before ? "yes" : "no"
        case .arithmetic, .minus:
            let glyphs = scene.glyphs.sorted { $0.centreX < $1.centreX }
            guard glyphs.count == 2, objects.count == 2 else { throw Failure("expected exactly two glyphs") }
            guard glyphs[0].maxX <= size / 2, glyphs[1].minX >= size / 2 else { throw Failure("digits must sit in their halves") }
            let left = Int(String(glyphs[0].glyph!))!, right = Int(String(glyphs[1].glyph!))!
            if family == .minus && left < right { throw Failure("negative difference") }
            return String(family == .minus ? left - right : left + right)
        case .describe:
            let object = try only(objects, "an object")
            return "\(object.colour.rawValue) \(object.shape!.rawValue)"
        case .countColour:
            return String(objects.filter { $0.colour == colours.first }.count)
        case .countShape:
            return String(objects.filter { $0.shape == shapes.first }.count)
        case .colourAt, .shapeAt:
            guard let cell else { throw Failure("\(question): no cell") }
            for object in objects {
                let own = object.cell(imageSize: scene.size)
                let third = size / 3
                guard object.minX >= Double(own.column) * third, object.maxX <= Double(own.column + 1) * third,
                      object.minY >= Double(own.row) * third, object.maxY <= Double(own.row + 1) * third else {
                    throw Failure("an object crosses its cell's border")
                }
            }
            let target = try only(objects.filter { $0.cell(imageSize: scene.size) == cell }, "the cell")
            return family == .colourAt ? target.colour.rawValue : target.shape!.rawValue
        case .biggestColour:
            return try only(objects.filter { $0.size == .large }, "large").colour.rawValue
        case .oddShape:
            let counts = Dictionary(grouping: objects.compactMap(\.shape), by: { $0 }).mapValues(\.count)
            let once = counts.filter { $0.value == 1 }.map(\.key)
            guard once.count == 1 else { throw Failure("\(once.count) shapes appear once") }
            return once[0].rawValue
        case .glyphByColour:
            return String(try only(scene.glyphs.filter { $0.colour == colours.first }, "the colour").glyph!)
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
