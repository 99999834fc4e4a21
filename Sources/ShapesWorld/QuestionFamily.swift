import Foundation

/// A question family: one kind of question over freshly drawn scenes, used as one task. Raw values are
/// stable names for the command line, dataset folders and task names.
///
/// Ten **base** families train the default model from scratch; eight **continual** families form the
/// continual-learning benchmark (`ShapesWorld.continualSequence`), which pretraining never sees. Continual
/// families reuse what base training teaches the vision tower (colours, shapes, sizes, positions, glyphs)
/// but ask for different outputs, and come in pairs that share scenes or phrasing with different answer
/// spaces, so tuning on one disturbs the other.
public enum QuestionFamily: String, CaseIterable, Sendable, Codable {
    // Base families.
    case colour, shape, count, position, size, glyph, exists, relation, arithmetic, describe
    // Pretraining families outside `base` (docs/BENCHMARK.md): counting by an attribute, and the shapes named
    // in the plural. The shipped model (run R, models/default/README.md) is pretrained on both besides `base`;
    // they stay outside it because they are there for the continual tasks, not as tasks of their own.
    case countSize = "count-size"
    case existsPlural = "exists-plural"
    // Continual families.
    case countColour = "count-colour"
    case colourAt = "colour-at"
    case shapeAt = "shape-at"
    case minus
    case biggestColour = "biggest-colour"
    case oddShape = "odd-shape"
    case glyphByColour = "glyph-by-colour"
    case countShape = "count-shape"

    /// Whether the default model's pretraining uses this family (`ShapesWorld.baseFamilies`).
    public var isBase: Bool { QuestionFamily.baseFamilies.contains(self) }

    static let baseFamilies: [QuestionFamily] = [.colour, .shape, .count, .position, .size, .glyph, .exists, .relation,
                                                 .arithmetic, .describe]
    static let continualSequence: [QuestionFamily] = [.countColour, .colourAt, .shapeAt, .minus, .biggestColour, .oddShape,
                                                      .glyphByColour, .countShape]

    /// What the family is for: `base`, `continual`, or `pretraining` (a family pretraining may add).
    public var role: String { isBase ? "base" : QuestionFamily.continualSequence.contains(self) ? "continual" : "pretraining" }

    /// One line on what the family asks and what the scenes hold.
    public var summary: String {
        switch self {
        case .colour: return "colour of the named shape; 1–3 objects, all shapes and colours different"
        case .shape: return "shape of the object with the named colour; 1–3 objects, all shapes and colours different"
        case .count: return "number of objects; 1–5 shapes"
        case .countSize: return "number of big (0–2) or small (0–4) objects; 2–5 objects"
        case .existsPlural: return "yes/no: is any object of the shape named in the plural there (0–3 of it, half yes); 1–5 objects"
        case .position: return "grid cell (3 × 3) of the named shape's centre; 1–3 objects, all shapes different"
        case .size: return "the bigger of two named shapes (one small, one large); 2–3 objects"
        case .glyph: return "the character shown; one glyph, sometimes with small shapes beside it"
        case .exists: return "whether a colour–shape combination is present (half yes, mostly near misses for no); 1–3 objects"
        case .relation: return "yes/no: is shape A left of / right of / above / below shape B (clearly separated); 2–3 objects"
        case .arithmetic: return "left digit plus right digit; two digit glyphs"
        case .describe: return "colour and shape of the only object"
        case .countColour: return "number of objects of the named colour (0–4); 2–6 objects"
        case .colourAt: return "colour of the object in the named grid cell; 2–4 small objects in different cells"
        case .shapeAt: return "shape of the object in the named grid cell; the same scenes as colour-at"
        case .minus: return "left digit minus right digit (never negative); the same scenes as arithmetic"
        case .biggestColour: return "colour of the one large object; 2–4 objects, the rest small, all colours different"
        case .oddShape: return "the shape that appears exactly once; 3–5 small objects, every other shape at least twice"
        case .glyphByColour: return "the character drawn in the named colour; 2–3 glyphs of different colours"
        case .countShape: return "number of the named shape (0–4); 2–6 objects"
        }
    }

    /// What answers look like.
    public var answerSpace: String {
        switch self {
        case .colour, .colourAt, .biggestColour: return "a colour (8)"
        case .shape, .size, .shapeAt, .oddShape: return "a shape (8)"
        case .count: return "1–5"
        case .countSize: return "0–4"
        case .position: return "a cell (9): top left, top centre, ..., bottom right"
        case .glyph, .glyphByColour: return "a character (36): 0–9, A–Z"
        case .exists, .existsPlural, .relation: return "yes or no"
        case .arithmetic: return "0–18"
        case .describe: return "colour and shape (64), e.g. \"red circle\""
        case .countColour, .countShape: return "0–4"
        case .minus: return "0–9"
        }
    }

    /// The question templates; `{...}` are filled from the scene.
    public var phrasings: [String] {
        switch self {
        case .colour:
            return ["What colour is the {shape}?", "What is the colour of the {shape}?", "Which colour is the {shape}?",
                    "Tell me the colour of the {shape}."]
        case .shape:
            return ["What shape is the {colour} object?", "Which shape is {colour}?", "What is the shape of the {colour} object?",
                    "Name the shape of the {colour} object."]
        case .count:
            return ["How many objects are there?", "How many shapes are in the picture?", "Count the objects.",
                    "What is the number of shapes?"]
        case .countSize:
            return ["How many {size} objects are there?", "How many {size} shapes are in the picture?", "Count the {size} objects.",
                    "What is the number of {size} shapes?"]
        case .existsPlural:
            return ["Are there any {shapes}?", "Does the image contain any {shapes}?", "Can you see any {shapes}?",
                    "Are any {shapes} in the picture?"]
        case .position:
            return ["Where is the {shape}?", "In which part of the image is the {shape}?", "Where is the {shape} located?",
                    "Which area of the picture holds the {shape}?"]
        case .size:
            return ["Which is bigger, the {a} or the {b}?", "Which is larger: the {a} or the {b}?",
                    "Which one is bigger, the {a} or the {b}?", "Of the {a} and the {b}, which is larger?"]
        case .glyph:
            return ["What character is shown?", "Which letter or digit is in the image?", "Read the character in the picture.",
                    "What symbol is written in the image?"]
        case .exists:
            return ["Is there {article} {colour} {shape}?", "Does the image contain {article} {colour} {shape}?",
                    "Can you see {article} {colour} {shape}?", "Is {article} {colour} {shape} present?"]
        case .relation:
            return ["Is the {a} {relation} the {b}?", "Is the {a} {relation-alt} the {b}?", "Is the {a} {relation-side} the {b}?"]
        case .arithmetic:
            return ["What is the left digit plus the right digit?", "What is the sum of the two digits?",
                    "Add the two digits. What do you get?", "What do the two digits add up to?"]
        case .describe:
            return ["Describe the object.", "What is in the picture?", "What do you see?", "Name the object in the image."]
        case .countColour:
            return ["How many {colour} objects are there?", "How many objects are {colour}?", "Count the {colour} objects.",
                    "What is the number of {colour} shapes?"]
        case .colourAt:
            return ["What colour is the object in the {cell}?", "Which colour is the shape in the {cell}?",
                    "What is the colour of the object in the {cell}?", "Name the colour of the shape in the {cell}."]
        case .shapeAt:
            return ["What shape is the object in the {cell}?", "Which shape is in the {cell}?",
                    "What is the shape of the object in the {cell}?", "Name the shape in the {cell}."]
        case .minus:
            return ["What is the left digit minus the right digit?", "Subtract the right digit from the left digit.",
                    "What is the difference between the left digit and the right digit?",
                    "What do you get if you take the right digit away from the left digit?"]
        case .biggestColour:
            return ["What colour is the biggest object?", "Which colour is the largest shape?",
                    "What is the colour of the big object?", "Name the colour of the largest object."]
        case .oddShape:
            return ["Which shape appears only once?", "Which shape is the odd one out?", "What shape occurs exactly once?",
                    "Which shape is not repeated?"]
        case .glyphByColour:
            return ["Which character is {colour}?", "What is the {colour} character?", "Read the {colour} character.",
                    "Which letter or digit is {colour}?"]
        case .countShape:
            return ["How many {shapes} are there?", "How many {shapes} can you see?", "Count the {shapes}.",
                    "What is the number of {shapes}?"]
        }
    }

    /// Parses a comma-separated list of family names, or `base`, `continual` or `all`. Order is kept and
    /// duplicates removed; unknown names come back in `unknown`.
    public static func parseList(_ text: String) -> (families: [QuestionFamily], unknown: [String]) {
        var families: [QuestionFamily] = []
        var unknown: [String] = []
        for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !name.isEmpty {
            let group: [QuestionFamily]
            switch name {
            case "base": group = baseFamilies
            case "continual": group = continualSequence
            case "all": group = allCases
            default:
                guard let family = QuestionFamily(rawValue: name) else {
                    unknown.append(name)
                    continue
                }
                group = [family]
            }
            for family in group where !families.contains(family) { families.append(family) }
        }
        return (families, unknown)
    }
}

extension String {
    /// Replaces `{key}` placeholders.
    func filled(_ values: [String: String]) -> String {
        var result = self
        for (key, value) in values { result = result.replacingOccurrences(of: "{\(key)}", with: value) }
        return result
    }
}
