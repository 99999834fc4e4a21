import Imaging

/// Draws a `Scene` into an `RGBImage`: background (grey + texture), shapes with 2 × 2 supersampled edges,
/// glyphs as solid blocks, then noise. Deterministic: the same scene gives the same pixels everywhere.
public enum SceneRenderer {
    public static func render(_ scene: Scene) -> RGBImage {
        let size = scene.size
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        pixels.withUnsafeMutableBufferPointer { buffer in
            for y in 0 ..< size {
                for x in 0 ..< size {
                    let grey = UInt8(clamping: scene.background.grey(x: x, y: y))
                    let index = (y * size + x) * 3
                    buffer[index] = grey
                    buffer[index + 1] = grey
                    buffer[index + 2] = grey
                }
            }
            for object in scene.objects {
                switch object.kind {
                case .shape(let kind):
                    drawShape(kind, object, into: buffer, size: size)
                case .glyph(let character, let scale):
                    drawGlyph(character, scale: scale, object, into: buffer, size: size)
                }
            }
            if scene.background.noise > 0 {
                addNoise(amplitude: scene.background.noise, seed: scene.background.noiseSeed, to: buffer)
            }
        }
        return RGBImage(width: size, height: size, pixels: pixels)
    }

    /// Sub-pixel sample offsets: a 2 × 2 grid inside each pixel.
    private static let samples: [(Double, Double)] = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]

    private static func drawShape(_ kind: ShapeKind, _ object: SceneObject, into buffer: UnsafeMutableBufferPointer<UInt8>,
                                  size: Int) {
        let radius = object.halfWidth
        let x0 = max(0, Int(object.minX.rounded(.down))), x1 = min(size - 1, Int(object.maxX.rounded(.up)))
        let y0 = max(0, Int(object.minY.rounded(.down))), y1 = min(size - 1, Int(object.maxY.rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        let colour = [Int(object.rgb.red), Int(object.rgb.green), Int(object.rgb.blue)]
        for y in y0 ... y1 {
            for x in x0 ... x1 {
                var covered = 0
                for (dx, dy) in samples {
                    let u = (Double(x) + dx - object.centreX) / radius
                    let v = (object.centreY - Double(y) - dy) / radius
                    if ShapeGeometry.contains(kind, u: u, v: v) { covered += 1 }
                }
                guard covered > 0 else { continue }
                let index = (y * size + x) * 3
                for channel in 0 ..< 3 {
                    let blended = (Int(buffer[index + channel]) * (4 - covered) + colour[channel] * covered + 2) / 4
                    buffer[index + channel] = UInt8(blended)
                }
            }
        }
    }

    private static func drawGlyph(_ character: Character, scale: Int, _ object: SceneObject,
                                  into buffer: UnsafeMutableBufferPointer<UInt8>, size: Int) {
        // Glyph boxes sit on whole pixels (the generator places them so).
        let left = Int(object.minX.rounded()), top = Int(object.minY.rounded())
        for row in 0 ..< GlyphFont.height {
            for column in 0 ..< GlyphFont.width where GlyphFont.ink(character, column: column, row: row) {
                for y in top + row * scale ..< top + (row + 1) * scale where y >= 0 && y < size {
                    for x in left + column * scale ..< left + (column + 1) * scale where x >= 0 && x < size {
                        let index = (y * size + x) * 3
                        buffer[index] = object.rgb.red
                        buffer[index + 1] = object.rgb.green
                        buffer[index + 2] = object.rgb.blue
                    }
                }
            }
        }
    }

    private static func addNoise(amplitude: Int, seed: UInt64, to buffer: UnsafeMutableBufferPointer<UInt8>) {
        var generator = Xoshiro256(seed: seed)
        for index in stride(from: 0, to: buffer.count, by: 3) {
            let offset = generator.int(below: 2 * amplitude + 1) - amplitude
            for channel in 0 ..< 3 {
                buffer[index + channel] = UInt8(clamping: Int(buffer[index + channel]) + offset)
            }
        }
    }
}
