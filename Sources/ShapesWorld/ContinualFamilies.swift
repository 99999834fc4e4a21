/// Scene and question generators of the continual families (see `QuestionFamily.summary`).
extension QuestionFamily {
    // Number of objects with the named colour (byColour) or shape; the others have different colours or
    // shapes. Mostly small objects so six fit.
    func composeFilteredCount(_ composer: inout SceneComposer, byColour: Bool) -> (String, String)? {
        let matching = composer.random.int(in: 0 ... 4)
        let others = composer.random.int(in: max(matching == 0 ? 2 : 1, 2 - matching) ... 6 - matching)
        let colour = composer.random.pick(Colour.allCases)
        let kind = composer.random.pick(ShapeKind.allCases)
        let otherColours = Colour.allCases.filter { $0 != colour }, otherKinds = ShapeKind.allCases.filter { $0 != kind }
        let total = matching + others
        var specs: [(ShapeKind, Colour)] = []
        for _ in 0 ..< matching {
            specs.append(byColour ? (composer.random.pick(ShapeKind.allCases), colour) : (kind, composer.random.pick(Colour.allCases)))
        }
        for _ in 0 ..< others {
            specs.append(byColour ? (composer.random.pick(ShapeKind.allCases), composer.random.pick(otherColours))
                         : (composer.random.pick(otherKinds), composer.random.pick(Colour.allCases)))
        }
        for (shapeKind, shapeColour) in composer.random.shuffled(specs) {
            let size = composer.randomSize(largeChance: total <= 3 ? 0.3 : 0.1)
            guard composer.addShape(shapeKind, colour: shapeColour, size: size) != nil else { return nil }
        }
        let values = byColour ? ["colour": colour.rawValue] : ["shapes": kind.plural]
        return (phrase(&composer, values), String(matching))
    }

    // 2–4 small objects, each entirely inside its own grid cell; the question names an occupied cell.
    func composeGridQuestion(_ composer: inout SceneComposer, askColour: Bool) -> (String, String)? {
        let count = composer.random.int(in: 2 ... 4)
        let cells = composer.random.sample(GridCell.allCases, count: count)
        let margin = composer.style.smallRadius + composer.style.gap / 2
        var placed: [(GridCell, SceneObject)] = []
        for cell in cells {
            let kind = composer.random.pick(ShapeKind.allCases), colour = composer.random.pick(Colour.allCases)
            guard let index = composer.addShape(kind, colour: colour, size: .small,
                                                region: composer.cellRegion(cell, margin: margin)) else { return nil }
            placed.append((cell, composer.scene.objects[index]))
        }
        let (cell, target) = composer.random.pick(placed)
        return (phrase(&composer, ["cell": cell.rawValue]), askColour ? target.colour.rawValue : target.shape!.rawValue)
    }

    // Exactly one large object; the others are small; all colours different.
    func composeBiggestColour(_ composer: inout SceneComposer) -> (String, String)? {
        let count = composer.random.int(in: 2 ... 4)
        let colours = composer.random.sample(Colour.allCases, count: count)
        for (index, colour) in colours.enumerated() {
            guard composer.addShape(composer.random.pick(ShapeKind.allCases), colour: colour,
                                    size: index == 0 ? .large : .small) != nil else { return nil }
        }
        return (phrase(&composer), colours[0].rawValue)
    }

    // One shape once, every other shape in the scene at least twice; colours free (they carry no hint).
    func composeOddShape(_ composer: inout SceneComposer) -> (String, String)? {
        let kinds = composer.random.sample(ShapeKind.allCases, count: 3)
        let odd = kinds[0]
        let layouts: [[Int]] = [[2], [3], [2, 2], [4]]   // how many of each repeated shape
        let repeats = composer.random.pick(layouts)
        var specs: [ShapeKind] = [odd]
        for (offset, times) in repeats.enumerated() {
            specs += Array(repeating: kinds[1 + offset], count: times)
        }
        for kind in composer.random.shuffled(specs) {
            guard composer.addShape(kind, colour: composer.random.pick(Colour.allCases), size: .small) != nil else { return nil }
        }
        return (phrase(&composer), odd.rawValue)
    }

    // 2–3 different characters in different colours; the question names one colour.
    func composeGlyphByColour(_ composer: inout SceneComposer) -> (String, String)? {
        let count = composer.random.int(in: 2 ... 3)
        let characters = composer.random.sample(GlyphFont.characters, count: count)
        let colours = composer.random.sample(Colour.allCases, count: count)
        for (character, colour) in zip(characters, colours) {
            guard composer.addGlyph(character, colour: colour, size: .small) != nil else { return nil }
        }
        let target = composer.random.int(below: count)
        return (phrase(&composer, ["colour": colours[target].rawValue]), String(characters[target]))
    }
}
