/// Sizes and visual variety, derived from the image size (the defaults are tuned for 64 px: small shapes
/// about 15 px across, large ones about 26 px, glyphs 15 × 21 or 20 × 28 px).
public struct ShapesStyle: Sendable, Equatable {
    public var imageSize: Int
    /// Radius of small and large shapes, in pixels.
    public var smallRadius: Double
    public var largeRadius: Double
    /// Pixels per font pixel for small and large glyphs.
    public var smallGlyphScale: Int
    public var largeGlyphScale: Int
    /// Minimum free space between objects' bounding boxes, in pixels.
    public var gap: Double
    /// Objects are drawn with each channel within ± this of the colour's nominal value.
    public var colourJitter: Int
    /// Background grey levels (dark enough for white, light enough for black objects).
    public var backgroundShades: ClosedRange<Int>
    /// Chance of a texture, and its contrast range.
    public var textureProbability: Double
    public var textureContrast: ClosedRange<Int>
    /// Chance of per-pixel noise, and its largest amplitude.
    public var noiseProbability: Double
    public var maximumNoise: Int

    /// The default style for `imageSize` × `imageSize` images (at least 32 px).
    public init(imageSize: Int) {
        precondition(imageSize >= 32, "ShapesWorld draws images of at least 32 × 32 pixels, got \(imageSize)")
        let size = Double(imageSize)
        self.imageSize = imageSize
        smallRadius = 0.12 * size
        largeRadius = 0.2 * size
        smallGlyphScale = max(1, Int((size / 21).rounded()))
        largeGlyphScale = max(smallGlyphScale + 1, Int((size / 16).rounded()))
        gap = max(2, size / 32)
        colourJitter = 12
        backgroundShades = 95 ... 150
        textureProbability = 0.5
        textureContrast = 5 ... 12
        noiseProbability = 0.5
        maximumNoise = 8
    }

    public func radius(_ size: ObjectSize) -> Double { size == .small ? smallRadius : largeRadius }
    public func glyphScale(_ size: ObjectSize) -> Int { size == .small ? smallGlyphScale : largeGlyphScale }
}
