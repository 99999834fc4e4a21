/// A scene: what an image shows, as data. Rendering is a pure function of it (`SceneRenderer.render`), and
/// every question is generated and checked against it, not against pixels.
public struct Scene: Sendable, Equatable {
    /// Width and height in pixels.
    public var size: Int
    public var background: Background
    /// Drawn in order (they never overlap, so the order does not change the picture).
    public var objects: [SceneObject]

    public init(size: Int, background: Background, objects: [SceneObject] = []) {
        self.size = size
        self.background = background
        self.objects = objects
    }

    /// The objects that are shapes (not glyphs).
    public var shapes: [SceneObject] { objects.filter { $0.shape != nil } }
    /// The objects that are glyphs.
    public var glyphs: [SceneObject] { objects.filter { $0.glyph != nil } }
}

/// One shape or glyph, with its exact extent in pixel coordinates (x right, y down, pixel (i, j) covering
/// [i, i+1) × [j, j+1)).
public struct SceneObject: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case shape(ShapeKind)
        /// A character of `GlyphFont`, drawn with each font pixel as a `scale` × `scale` block.
        case glyph(Character, scale: Int)
    }

    public var kind: Kind
    public var colour: Colour
    public var size: ObjectSize
    /// The colour actually drawn (the nominal colour with a small jitter).
    public var rgb: RGB
    public var centreX: Double
    public var centreY: Double
    /// Half the width and height of the bounding box (for shapes both equal the radius).
    public var halfWidth: Double
    public var halfHeight: Double

    public init(kind: Kind, colour: Colour, size: ObjectSize, rgb: RGB, centreX: Double, centreY: Double,
                halfWidth: Double, halfHeight: Double) {
        self.kind = kind
        self.colour = colour
        self.size = size
        self.rgb = rgb
        self.centreX = centreX
        self.centreY = centreY
        self.halfWidth = halfWidth
        self.halfHeight = halfHeight
    }

    public var shape: ShapeKind? {
        if case .shape(let kind) = kind { return kind }
        return nil
    }

    public var glyph: Character? {
        if case .glyph(let character, _) = kind { return character }
        return nil
    }

    public var minX: Double { centreX - halfWidth }
    public var maxX: Double { centreX + halfWidth }
    public var minY: Double { centreY - halfHeight }
    public var maxY: Double { centreY + halfHeight }

    /// The grid cell of the centre.
    public func cell(imageSize: Int) -> GridCell { GridCell.containing(x: centreX, y: centreY, size: imageSize) }

    /// Whether the bounding boxes, grown by `gap` pixels, overlap.
    public func overlaps(_ other: SceneObject, gap: Double) -> Bool {
        minX - gap < other.maxX && other.minX - gap < maxX && minY - gap < other.maxY && other.minY - gap < maxY
    }

    /// Entirely left of `other`, with at least `gap` pixels between the boxes.
    public func isLeft(of other: SceneObject, gap: Double = 0) -> Bool { maxX + gap <= other.minX }
    /// Entirely above `other`, with at least `gap` pixels between the boxes.
    public func isAbove(_ other: SceneObject, gap: Double = 0) -> Bool { maxY + gap <= other.minY }
}

/// A neutral grey background with an optional low-contrast texture and per-pixel noise.
public struct Background: Sendable, Equatable {
    public enum Texture: Sendable, Equatable {
        case plain
        /// Bands `period / 2` pixels wide, alternately `contrast` lighter and darker.
        case stripes(Orientation, period: Int, contrast: Int)
        /// Squares of `cell` pixels, alternately `contrast` lighter and darker.
        case checker(cell: Int, contrast: Int)
        /// One lighter pixel every `spacing` pixels in both directions.
        case dots(spacing: Int, contrast: Int)
    }

    public enum Orientation: String, Sendable, Equatable { case horizontal, vertical, diagonal }

    /// The grey level, 0...255.
    public var shade: Int
    public var texture: Texture
    /// Each pixel gets a uniform offset in `-noise ... noise` (the same on its three channels); 0 = none.
    public var noise: Int
    /// Seeds the noise, so the scene alone determines the image.
    public var noiseSeed: UInt64

    public init(shade: Int, texture: Texture = .plain, noise: Int = 0, noiseSeed: UInt64 = 0) {
        self.shade = shade
        self.texture = texture
        self.noise = noise
        self.noiseSeed = noiseSeed
    }

    /// The background grey at pixel (x, y) before noise.
    public func grey(x: Int, y: Int) -> Int {
        switch texture {
        case .plain:
            return shade
        case .stripes(let orientation, let period, let contrast):
            let coordinate = orientation == .horizontal ? y : orientation == .vertical ? x : x + y
            return shade + ((coordinate % period) < period / 2 ? contrast : -contrast)
        case .checker(let cell, let contrast):
            return shade + ((x / cell + y / cell) % 2 == 0 ? contrast : -contrast)
        case .dots(let spacing, let contrast):
            return shade + (x % spacing == spacing / 2 && y % spacing == spacing / 2 ? 2 * contrast : 0)
        }
    }
}
