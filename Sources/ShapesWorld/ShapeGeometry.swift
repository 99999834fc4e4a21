/// The shapes as point-in-shape tests in the unit box: u to the right, v upwards, the shape inside
/// [-1, 1] × [-1, 1] (scaled by the object's radius when drawn). Only +, −, × and comparisons, so the
/// result is the same on every machine; the star's vertices are written out rather than computed with
/// sin/cos, whose last bits differ between C libraries.
enum ShapeGeometry {
    static func contains(_ kind: ShapeKind, u: Double, v: Double) -> Bool {
        switch kind {
        case .circle:
            return u * u + v * v <= 1
        case .ring:
            let squared = u * u + v * v
            return squared <= 1 && squared >= 0.3
        case .square:
            return abs(u) <= 0.82 && abs(v) <= 0.82
        case .diamond:
            return abs(u) + abs(v) <= 1
        case .triangle:
            // Apex (0, 0.95), base corners (±0.95, −0.8).
            return v >= -0.8 && abs(u) * 1.75 <= 0.95 * (0.95 - v)
        case .star:
            return polygonContains(starVertices, u: u, v: v)
        case .cross:
            return (abs(u) <= 0.32 && abs(v) <= 0.95) || (abs(v) <= 0.32 && abs(u) <= 0.95)
        case .heart:
            // (x² + y² − 1)³ − x² y³ ≤ 0, which spans x ∈ [−1.14, 1.14], y ∈ [−1, 1.24].
            let x = 1.14 * u
            let y = 1.12 * v + 0.12
            let base = x * x + y * y - 1
            return base * base * base - x * x * y * y * y <= 0
        }
    }

    /// A five-pointed star, point up: outer radius 1, inner radius 0.42, vertices every 36° from 90°.
    static let starVertices: [(Double, Double)] = [
        (0, 1), (-0.24687, 0.339787), (-0.951057, 0.309017), (-0.399444, -0.129787), (-0.587785, -0.809017),
        (0, -0.42), (0.587785, -0.809017), (0.399444, -0.129787), (0.951057, 0.309017), (0.24687, 0.339787),
    ]

    /// Even–odd rule: count edge crossings of a ray towards +u.
    static func polygonContains(_ vertices: [(Double, Double)], u: Double, v: Double) -> Bool {
        var inside = false
        var previous = vertices[vertices.count - 1]
        for vertex in vertices {
            if (vertex.1 > v) != (previous.1 > v) {
                let crossing = vertex.0 + (v - vertex.1) * (previous.0 - vertex.0) / (previous.1 - vertex.1)
                if u < crossing { inside.toggle() }
            }
            previous = vertex
        }
        return inside
    }
}
