/// What each image patch shows, as labels for pretraining's patch heads (`PatchSupervision`): the scene
/// is known, so every patch of a `patchSize` grid gets the object covering most of it.
public enum PatchLabels {
    /// What one patch head learns. `standard`, the six sets every default model has had (the shipped one, run R,
    /// adds `centre` and `column-order`; models/default/README.md): what the object is (8 shapes,
    /// 36 glyphs; class 0 is never a target, background patches are −1, "no target"), its colour
    /// (background + 8), its size (background, small, large), the patch's own row and column, and again which
    /// glyph (36 characters) for glyph patches only (−1 elsewhere).
    ///
    /// Why row and column: the decoder sees the image tokens before the question, so the distance from an
    /// answer back to a patch shifts with the question's length, and rotary positions alone cannot say which
    /// column a patch is in. Without these heads the model learned rows (8 tokens apart) but answered "left"
    /// for most objects on the right, and left/right relations stayed at chance.
    ///
    /// Why a glyph set beside identity: each head's loss is a mean over its labelled patches, and glyphs cover
    /// one or two patches in a hundred of the mixed scenes, so in the identity head misreading them costs
    /// almost nothing. The glyph set's mean is over glyph patches alone. For the same reason identity leaves
    /// background out (colour and size already tell it): 800 tower steps (lr 3e-3) put 62% of shape patches
    /// right with background left out and 37% with it in.
    public enum LabelSet: String, CaseIterable, Sendable {
        case identity, colour, size, row, column, glyph
        /// How many objects the scene holds (up to `maxObjects`), on every patch: a whole-image fact the
        /// tower can learn from every scene it sees, where the decoder learns to count from `count`
        /// questions alone.
        case objects
        /// Whether the patch holds an object's centre (1) or only another part of an object (0; background
        /// is no target): one patch per object, whatever its size, so counting objects is counting these
        /// patches rather than estimating area (docs/BENCHMARK.md).
        case centre
        /// The patch's column as an order, not a class: one yes/no head per column boundary k (1 ≤ k < grid),
        /// "is this patch's column k or further right" (a thermometer code), so the tower's features must put
        /// the columns on a line — which "is A left of B" compares — where the `column` head may keep them as
        /// unordered classes. Rows need no such head: the image tokens run row by row, so rows are eight
        /// positions apart in the decoder as well.
        case columnOrder = "column-order"

        public static let standard: [LabelSet] = [.identity, .colour, .size, .row, .column, .glyph]

        /// Classes of each of this set's heads for a `grid` × `grid` patch grid.
        public func classCounts(grid: Int) -> [Int] {
            Array(repeating: classCount(grid: grid), count: headCount(grid: grid))
        }

        /// The names of this set's heads, for reports.
        public func headNames(grid: Int) -> [String] {
            headCount(grid: grid) == 1 ? [rawValue] : (1 ... headCount(grid: grid)).map { "\(rawValue)≥\($0)" }
        }

        /// One head for every set but `columnOrder`, which has one per column boundary.
        private func headCount(grid: Int) -> Int { self == .columnOrder ? grid - 1 : 1 }

        /// Classes of each of this set's heads.
        private func classCount(grid: Int) -> Int {
            switch self {
            case .centre, .columnOrder: 2
            case .identity: PatchLabels.firstGlyphIdentity + GlyphFont.characters.count
            case .colour: 1 + Colour.allCases.count
            case .size: 1 + ObjectSize.allCases.count
            case .row, .column: grid
            case .glyph: GlyphFont.characters.count
            case .objects: PatchLabels.maxObjects + 1
            }
        }

        /// Every set's name, comma-separated, for help and error messages.
        public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

        /// Sets named in a comma-separated list, or the names that are not sets.
        public static func parseList(_ list: String) -> (sets: [LabelSet], unknown: [String]) {
            let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            return (names.compactMap(LabelSet.init(rawValue:)), names.filter { LabelSet(rawValue: $0) == nil })
        }
    }

    /// The `objects` set's largest class: scenes with more objects are labelled this many.
    public static let maxObjects = 8

    /// The class counts of `sets`' heads, in head order, for a `grid` × `grid` patch grid.
    public static func classCounts(grid: Int, sets: [LabelSet] = LabelSet.standard) -> [Int] {
        sets.flatMap { $0.classCounts(grid: grid) }
    }

    /// The identity class of the first glyph: classes 1 … are the shapes, then the glyphs.
    public static let firstGlyphIdentity = 1 + ShapeKind.allCases.count

    /// A patch belongs to an object when the object covers at least this fraction of its pixels.
    static let minimumCoverage = 0.125

    /// One array per head of `sets` (`classCounts`), row-major over the patch grid (as CLIP orders its patches).
    public static func labels(of scene: Scene, patchSize: Int, sets: [LabelSet] = LabelSet.standard) -> [[Int]] {
        labels(of: scene, patchSize: patchSize, sets: sets, coverages: coverages(of: scene, patchSize: patchSize))
    }

    /// `labels(of:patchSize:sets:)` and `patches(of:in:patchSize:)` together, measuring each object once.
    public static func labelsAndPatches(of scene: Scene, objects: [[Int]?], patchSize: Int,
                                        sets: [LabelSet] = LabelSet.standard) -> (labels: [[Int]], patches: [[Int]]) {
        let coverages = coverages(of: scene, patchSize: patchSize)
        return (labels(of: scene, patchSize: patchSize, sets: sets, coverages: coverages),
                patches(of: objects, in: scene, patchSize: patchSize, coverages: coverages))
    }

    private static func labels(of scene: Scene, patchSize: Int, sets: [LabelSet], coverages: [[Int]]) -> [[Int]] {
        let grid = scene.size / patchSize
        var identity = [Int](repeating: 0, count: grid * grid)
        var colour = identity, size = identity
        var best = [Int](repeating: 0, count: grid * grid)
        var centre = [Int](repeating: -1, count: grid * grid)
        let threshold = Self.threshold(patchSize: patchSize)
        for (object, covered) in zip(scene.objects, coverages) {
            let label: Int
            switch object.kind {
            case .shape(let kind): label = 1 + ShapeKind.allCases.firstIndex(of: kind)!
            case .glyph(let character, _): label = firstGlyphIdentity + GlyphFont.characters.firstIndex(of: character)!
            }
            for patch in covered.indices where covered[patch] >= threshold && covered[patch] > best[patch] {
                best[patch] = covered[patch]
                identity[patch] = label
                colour[patch] = 1 + Colour.allCases.firstIndex(of: object.colour)!
                size[patch] = 1 + ObjectSize.allCases.firstIndex(of: object.size)!
            }
            for patch in covered.indices where covered[patch] >= threshold { centre[patch] = 0 }
        }
        for object in scene.objects {
            let column = min(grid - 1, max(0, Int(object.centreX) / patchSize)), row = min(grid - 1, max(0, Int(object.centreY) / patchSize))
            centre[row * grid + column] = 1
        }
        let patches = 0 ..< grid * grid
        return sets.flatMap { set -> [[Int]] in
            switch set {
            case .identity: [identity.map { $0 > 0 ? $0 : -1 }]
            case .colour: [colour]
            case .size: [size]
            case .row: [patches.map { $0 / grid }]
            case .column: [patches.map { $0 % grid }]
            case .glyph: [identity.map { $0 >= firstGlyphIdentity ? $0 - firstGlyphIdentity : -1 }]
            case .objects: [Array(repeating: min(scene.objects.count, maxObjects), count: grid * grid)]
            case .centre: [centre]
            case .columnOrder: (1 ..< grid).map { boundary in patches.map { $0 % grid >= boundary ? 1 : 0 } }
            }
        }
    }

    /// The patches each list of objects covers (at least `minimumCoverage` of a patch), for attention
    /// supervision of the objects a question names (`Lookups.objects`); an empty list (the question names
    /// something the scene does not have) gives `[nothing]`, and nil (an unsupervised slot) no patches.
    public static func patches(of objects: [[Int]?], in scene: Scene, patchSize: Int) -> [[Int]] {
        patches(of: objects, in: scene, patchSize: patchSize, coverages: coverages(of: scene, patchSize: patchSize))
    }

    private static func patches(of lists: [[Int]?], in scene: Scene, patchSize: Int, coverages: [[Int]]) -> [[Int]] {
        let threshold = Self.threshold(patchSize: patchSize)
        return lists.map { objects in
            guard let objects else { return [] }
            var covered = [Int](repeating: 0, count: (scene.size / patchSize) * (scene.size / patchSize))
            for index in objects {
                for (patch, pixels) in coverages[index].enumerated() { covered[patch] = max(covered[patch], pixels) }
            }
            return objects.isEmpty ? [nothing] : covered.indices.filter { covered[$0] >= threshold }
        }
    }

    private static func coverages(of scene: Scene, patchSize: Int) -> [[Int]] {
        precondition(patchSize > 0 && scene.size % patchSize == 0, "patch size \(patchSize) does not tile \(scene.size) px")
        return scene.objects.map { coverage(of: $0, sceneSize: scene.size, patchSize: patchSize) }
    }

    /// The attention target that stands for "nothing in the image": the prompt's first token.
    public static let nothing = -1

    static func threshold(patchSize: Int) -> Int { Int((minimumCoverage * Double(patchSize * patchSize)).rounded(.up)) }

    /// Pixels of `object` in each patch, row-major.
    static func coverage(of object: SceneObject, sceneSize: Int, patchSize: Int) -> [Int] {
        let grid = sceneSize / patchSize
        var covered = [Int](repeating: 0, count: grid * grid)
        let x0 = max(0, Int(object.minX.rounded(.down))), x1 = min(sceneSize - 1, Int(object.maxX.rounded(.up)))
        let y0 = max(0, Int(object.minY.rounded(.down))), y1 = min(sceneSize - 1, Int(object.maxY.rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return covered }
        for y in y0 ... y1 {
            for x in x0 ... x1 where object.covers(x: x, y: y) {
                covered[(y / patchSize) * grid + x / patchSize] += 1
            }
        }
        return covered
    }
}

extension SceneObject {
    /// Whether pixel (x, y)'s centre is part of the object: inside the shape, or inside a glyph's box (a
    /// glyph's gaps between strokes belong to it too).
    func covers(x: Int, y: Int) -> Bool {
        let px = Double(x) + 0.5, py = Double(y) + 0.5
        switch kind {
        case .shape(let shape):
            return ShapeGeometry.contains(shape, u: (px - centreX) / halfWidth, v: (centreY - py) / halfWidth)
        case .glyph:
            return px >= minX && px < maxX && py >= minY && py < maxY
        }
    }
}
