/// Where each supervised attention head should look for one question (`AttentionSupervision`'s slots, in
/// this order): image objects for the heads at layers 1 and 2, words of the question for those at layer 0.
public enum LookupSlot: Int, CaseIterable, Sendable {
    /// Layer 1: the first thing the question names by its shape.
    case firstByShape
    /// Layer 1: the second thing named by its shape.
    case secondByShape
    /// Layer 1: of two shapes, the one the asked relation puts first.
    case relationFirst
    /// Layer 2: the object the answer is about if the claim holds, else nothing (the prompt's first token).
    case answerObject
    /// Layer 1: what the question names by its colour.
    case byColour
    /// Layer 0: the first shape word, which the layer-1 lookups need in the last token's query.
    case firstShapeWord
    /// Layer 0: the colour word.
    case colourWord
    /// Layer 0: the second shape word.
    case secondShapeWord

    /// The decoder layer whose head does this lookup: it needs what the layers before it have brought to
    /// the last token (`AttentionSupervision.defaultSlots` gives the heads, in this order).
    public var layer: Int {
        switch self {
        case .firstShapeWord, .colourWord, .secondShapeWord: 0
        case .firstByShape, .secondByShape, .relationFirst, .byColour: 1
        case .answerObject: 2
        }
    }
}

/// The lookups of one question: per `LookupSlot`, the objects to find (indices into `scene.objects`; an
/// empty list: none is there, look at the prompt's first token) or the question word to look at.
public struct Lookups: Sendable, Equatable {
    public private(set) var objects: [[Int]?] = Array(repeating: nil, count: LookupSlot.allCases.count)
    public private(set) var words: [String?] = Array(repeating: nil, count: LookupSlot.allCases.count)

    public init() {}

    public subscript(objects slot: LookupSlot) -> [Int]? {
        get { objects[slot.rawValue] }
        set { objects[slot.rawValue] = newValue }
    }

    public subscript(word slot: LookupSlot) -> String? {
        get { words[slot.rawValue] }
        set { words[slot.rawValue] = newValue }
    }

    public var isEmpty: Bool { objects.allSatisfy { $0 == nil } && words.allSatisfy { $0 == nil } }
}
