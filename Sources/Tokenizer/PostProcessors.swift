/// The fourth stage: wraps the encoded sequence in the model's special tokens (BOS, [CLS] … [SEP]) when
/// `addSpecialTokens` is set. Only single sequences are encoded here; pair templates are read but not used.
protocol PostProcessor: Sendable {
    func process(_ ids: [Int], addSpecialTokens: Bool) -> [Int]
}

/// Builds the post-processor named by `config`'s "type".
func makePostProcessor(_ config: ComponentConfig) throws -> PostProcessor {
    switch try config.type() {
    case "TemplateProcessing":
        return try TemplateProcessor(config)
    case "ByteLevel":
        // Only trims offsets, which this implementation does not compute; ids pass through unchanged.
        return PassThroughProcessor()
    case "BertProcessing":
        return WrapProcessor(prefix: [try specialTokenId(config, "cls")], suffix: [try specialTokenId(config, "sep")])
    case "RobertaProcessing":
        return WrapProcessor(prefix: [try specialTokenId(config, "cls")], suffix: [try specialTokenId(config, "sep")])
    case "Sequence":
        return SequenceProcessor(processors: try config.children("processors").map(makePostProcessor))
    default:
        throw config.unsupported()
    }
}

/// Bert/Roberta processors name their tokens as ["[CLS]", 101].
private func specialTokenId(_ config: ComponentConfig, _ key: String) throws -> Int {
    guard let pair = config.json[key]?.array, pair.count == 2, let id = pair[1].int else {
        throw config.missing(key, "a [token, id] pair")
    }
    return id
}

struct PassThroughProcessor: PostProcessor {
    func process(_ ids: [Int], addSpecialTokens: Bool) -> [Int] { ids }
}

struct WrapProcessor: PostProcessor {
    let prefix: [Int]
    let suffix: [Int]

    func process(_ ids: [Int], addSpecialTokens: Bool) -> [Int] {
        addSpecialTokens ? prefix + ids + suffix : ids
    }
}

struct SequenceProcessor: PostProcessor {
    let processors: [PostProcessor]

    func process(_ ids: [Int], addSpecialTokens: Bool) -> [Int] {
        processors.reduce(ids) { $1.process($0, addSpecialTokens: addSpecialTokens) }
    }
}

/// TemplateProcessing: the "single" template, e.g. `[{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}]`,
/// with each special token's ids from the "special_tokens" table (so BOS comes from the file).
struct TemplateProcessor: PostProcessor {
    enum Piece {
        case sequence
        case special([Int])
    }

    let single: [Piece]

    init(_ config: ComponentConfig) throws {
        // Names compared by exact scalars, so keyed by their UTF-8 bytes.
        var table: [[UInt8]: [Int]] = [:]
        for (name, entry) in config.json["special_tokens"]?.members ?? [] {
            guard let ids = entry["ids"]?.array?.compactMap(\.int) else {
                throw config.missing("special_tokens.\(name).ids", "an array of ids")
            }
            table[Array(name.utf8)] = ids
        }

        guard let template = config.json["single"] else { throw config.missing("single", "a template") }
        single = try Self.parse(template, path: "\(config.path).single") { name in
            guard let ids = table[Array(name.utf8)] else {
                throw TokenizerError.unknownToken(component: "\(config.path).special_tokens", token: name)
            }
            return ids
        }
    }

    /// Accepts the serialised form (array of {"Sequence"|"SpecialToken": {"id", "type_id"}}) and the
    /// shorthand string form ("<s> $A", "[CLS]:0 $A:0 [SEP]:0").
    private static func parse(_ template: JSONValue, path: String,
                              lookup: (String) throws -> [Int]) throws -> [Piece] {
        if let text = template.string {
            return try text.split(separator: " ").map { word in
                let name = word.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[0]
                if name.hasPrefix("$") { return .sequence }
                return .special(try lookup(String(name)))
            }
        }
        guard let elements = template.array else { throw TokenizerError.malformed("\(path) should be an array") }
        return try elements.map { element in
            if element["Sequence"] != nil { return .sequence }
            if let name = element["SpecialToken"]?["id"]?.string { return .special(try lookup(name)) }
            throw TokenizerError.malformed("\(path) has an element that is neither Sequence nor SpecialToken")
        }
    }

    func process(_ ids: [Int], addSpecialTokens: Bool) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(ids.count + 4)
        for piece in single {
            switch piece {
            case .sequence: result.append(contentsOf: ids)
            case .special(let specialIds): if addSpecialTokens { result.append(contentsOf: specialIds) }
            }
        }
        return result
    }
}
