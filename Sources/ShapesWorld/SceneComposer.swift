/// Builds one scene: draws a background, then places objects at random free spots, optionally inside a
/// region. Family generators use it and ask it for every random choice, so an item is a pure function of
/// its seed.
struct SceneComposer {
    /// Where an object's centre may go, in pixels (clipped further so the object stays inside the image).
    struct Region {
        var minX: Double
        var maxX: Double
        var minY: Double
        var maxY: Double
    }

    let style: ShapesStyle
    var random: Xoshiro256
    var scene: Scene
    /// Where the supervised attention heads should look; set by the families that name objects.
    var lookups = Lookups()

    /// How many random spots to try per object before giving up (the generator then redraws the item).
    private let attempts = 80

    init(style: ShapesStyle, random: Xoshiro256) {
        self.style = style
        self.random = random
        scene = Scene(size: style.imageSize, background: Background(shade: 128))
        scene.background = drawBackground()
    }

    var size: Double { Double(style.imageSize) }

    private mutating func drawBackground() -> Background {
        let shade = random.int(in: style.backgroundShades)
        var texture = Background.Texture.plain
        if random.chance(style.textureProbability) {
            let contrast = random.int(in: style.textureContrast)
            switch random.int(below: 3) {
            case 0:
                let orientation = random.pick([Background.Orientation.horizontal, .vertical, .diagonal])
                texture = .stripes(orientation, period: 2 * random.int(in: 2 ... 5), contrast: contrast)
            case 1:
                texture = .checker(cell: random.int(in: 3 ... 8), contrast: contrast)
            default:
                texture = .dots(spacing: random.int(in: 3 ... 6), contrast: contrast)
            }
        }
        let noise = random.chance(style.noiseProbability) ? random.int(in: 1 ... style.maximumNoise) : 0
        return Background(shade: shade, texture: texture, noise: noise, noiseSeed: random.next())
    }

    /// The nominal colour with a per-channel jitter.
    private mutating func jittered(_ colour: Colour) -> RGB {
        let base = colour.rgb
        let jitter = style.colourJitter
        func channel(_ value: UInt8) -> UInt8 { UInt8(clamping: Int(value) + random.int(in: -jitter ... jitter)) }
        return RGB(channel(base.red), channel(base.green), channel(base.blue))
    }

    /// The region of a grid cell, shrunk by `margin` pixels on every side.
    func cellRegion(_ cell: GridCell, margin: Double) -> Region {
        let third = size / 3
        return Region(minX: Double(cell.column) * third + margin, maxX: Double(cell.column + 1) * third - margin,
                      minY: Double(cell.row) * third + margin, maxY: Double(cell.row + 1) * third - margin)
    }

    /// Places a shape at a random free spot (inside `region` if given); returns its index, or nil if no spot
    /// was found.
    @discardableResult
    mutating func addShape(_ kind: ShapeKind, colour: Colour, size objectSize: ObjectSize, region: Region? = nil) -> Int? {
        let radius = style.radius(objectSize)
        let rgb = jittered(colour)
        guard let (x, y) = freeSpot(halfWidth: radius, halfHeight: radius, region: region, wholePixels: false) else { return nil }
        scene.objects.append(SceneObject(kind: .shape(kind), colour: colour, size: objectSize, rgb: rgb, centreX: x, centreY: y,
                                         halfWidth: radius, halfHeight: radius))
        return scene.objects.count - 1
    }

    /// Places a glyph (its box on whole pixels) at a random free spot; returns its index or nil.
    @discardableResult
    mutating func addGlyph(_ character: Character, colour: Colour, size objectSize: ObjectSize, region: Region? = nil) -> Int? {
        let scale = style.glyphScale(objectSize)
        let halfWidth = Double(GlyphFont.width * scale) / 2, halfHeight = Double(GlyphFont.height * scale) / 2
        let rgb = jittered(colour)
        guard let (x, y) = freeSpot(halfWidth: halfWidth, halfHeight: halfHeight, region: region, wholePixels: true) else {
            return nil
        }
        scene.objects.append(SceneObject(kind: .glyph(character, scale: scale), colour: colour, size: objectSize, rgb: rgb,
                                         centreX: x, centreY: y, halfWidth: halfWidth, halfHeight: halfHeight))
        return scene.objects.count - 1
    }

    /// A centre for a box of the given half extents: inside the image with a 1-pixel border, inside
    /// `region`, and at least `style.gap` away from every placed object.
    private mutating func freeSpot(halfWidth: Double, halfHeight: Double, region: Region?,
                                   wholePixels: Bool) -> (Double, Double)? {
        var minX = halfWidth + 1, maxX = size - halfWidth - 1
        var minY = halfHeight + 1, maxY = size - halfHeight - 1
        if let region {
            minX = max(minX, region.minX)
            maxX = min(maxX, region.maxX)
            minY = max(minY, region.minY)
            maxY = min(maxY, region.maxY)
        }
        guard minX <= maxX, minY <= maxY else { return nil }
        for _ in 0 ..< attempts {
            var x = random.double(minX, maxX), y = random.double(minY, maxY)
            if wholePixels {
                // Move the box's left/top edge onto a pixel boundary (rounding inwards keeps it in range).
                x = ((x - halfWidth).rounded(.up) + halfWidth)
                y = ((y - halfHeight).rounded(.up) + halfHeight)
                if x > maxX || y > maxY { continue }
            }
            let candidate = SceneObject(kind: .shape(.circle), colour: .red, size: .small, rgb: RGB(0, 0, 0), centreX: x,
                                        centreY: y, halfWidth: halfWidth, halfHeight: halfHeight)
            if !scene.objects.contains(where: { $0.overlaps(candidate, gap: style.gap) }) { return (x, y) }
        }
        return nil
    }

    /// A random size, large with probability `largeChance`.
    mutating func randomSize(largeChance: Double = 0.4) -> ObjectSize {
        random.chance(largeChance) ? .large : .small
    }
}
