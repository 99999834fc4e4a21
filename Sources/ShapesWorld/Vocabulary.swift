/// The shape kinds ShapesWorld draws. Raw values are the words questions and answers use.
public enum ShapeKind: String, CaseIterable, Sendable, Codable {
    case circle, square, triangle, diamond, star, cross, ring, heart

    /// The plural used in questions ("How many crosses ...").
    public var plural: String { self == .cross ? "crosses" : rawValue + "s" }
}

/// The eight colours, far apart in hue or brightness so they stay distinct at 64 px, under noise and on
/// any of the grey backgrounds. Raw values are the words questions and answers use.
public enum Colour: String, CaseIterable, Sendable, Codable {
    case red, orange, yellow, green, blue, purple, white, black

    /// "a" or "an", for "an orange star".
    public var article: String { self == .orange ? "an" : "a" }

    /// The nominal sRGB value (objects are drawn within ±`ShapesStyle.colourJitter` of it).
    public var rgb: RGB {
        switch self {
        case .red: return RGB(220, 40, 40)
        case .orange: return RGB(245, 140, 20)
        case .yellow: return RGB(245, 225, 40)
        case .green: return RGB(40, 170, 60)
        case .blue: return RGB(40, 90, 230)
        case .purple: return RGB(150, 60, 200)
        case .white: return RGB(245, 245, 245)
        case .black: return RGB(20, 20, 20)
        }
    }
}

/// Small or large; large objects are about 1.7 times the size of small ones.
public enum ObjectSize: String, CaseIterable, Sendable, Codable {
    case small, large
}

/// One sRGB colour.
public struct RGB: Sendable, Equatable, Hashable, Codable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }
}

/// The cells of the 3 × 3 grid that position questions use, in reading order. Raw values are the words.
public enum GridCell: String, CaseIterable, Sendable, Codable {
    case topLeft = "top left", topCentre = "top centre", topRight = "top right"
    case middleLeft = "middle left", centre = "centre", middleRight = "middle right"
    case bottomLeft = "bottom left", bottomCentre = "bottom centre", bottomRight = "bottom right"

    /// Column 0...2 (left to right).
    public var column: Int { GridCell.allCases.firstIndex(of: self)! % 3 }
    /// Row 0...2 (top to bottom).
    public var row: Int { GridCell.allCases.firstIndex(of: self)! / 3 }

    public init(column: Int, row: Int) {
        precondition((0 ..< 3).contains(column) && (0 ..< 3).contains(row), "grid cells are 3 × 3")
        self = GridCell.allCases[row * 3 + column]
    }

    /// The cell holding the point (x, y) of an image `size` pixels wide and high.
    public static func containing(x: Double, y: Double, size: Int) -> GridCell {
        let third = Double(size) / 3
        return GridCell(column: min(2, max(0, Int(x / third))), row: min(2, max(0, Int(y / third))))
    }
}
