/// The second stage: cuts normalised text into words, which the model then tokenizes one by one (a BPE
/// merge never crosses a word boundary). Some pre-tokenizers also rewrite the words (ByteLevel, Metaspace).
protocol PreTokenizer: Sendable {
    /// The words of `piece`, in order; empty words may be returned and are dropped by the caller.
    func preTokenize(_ piece: TextPiece) -> [TextPiece]
}

extension PreTokenizer {
    /// Applies the pre-tokenizer to each piece and drops empty results, as the library's `split` does.
    func preTokenize(all pieces: [TextPiece]) -> [TextPiece] {
        var result: [TextPiece] = []
        result.reserveCapacity(pieces.count)
        for piece in pieces {
            for word in preTokenize(piece) where !word.text.isEmpty { result.append(word) }
        }
        return result
    }
}

/// Builds the pre-tokenizer named by `config`'s "type".
func makePreTokenizer(_ config: ComponentConfig) throws -> PreTokenizer {
    switch try config.type() {
    case "Sequence":
        return SequencePreTokenizer(preTokenizers: try config.children("pretokenizers").map(makePreTokenizer))
    case "ByteLevel":
        return try ByteLevelPreTokenizer(addPrefixSpace: try config.bool("add_prefix_space", default: true),
                                         useRegex: try config.bool("use_regex", default: true))
    case "Split":
        return SplitPreTokenizer(pattern: try makePattern(config.json["pattern"], component: config.path),
                                 behavior: try SplitBehavior(json: config.json["behavior"]?.string,
                                                             component: config.path),
                                 invert: try config.bool("invert", default: false))
    case "Metaspace":
        return try MetaspacePreTokenizer(config)
    case "Whitespace":
        return WhitespacePreTokenizer()
    case "WhitespaceSplit":
        return CharacterSplitPreTokenizer(pattern: CharacterPattern(predicate: CharacterClass.isWhitespace),
                                          behavior: .removed)
    case "BertPreTokenizer":
        return SequencePreTokenizer(preTokenizers: [
            CharacterSplitPreTokenizer(pattern: CharacterPattern(predicate: CharacterClass.isWhitespace),
                                       behavior: .removed),
            CharacterSplitPreTokenizer(pattern: CharacterPattern(predicate: CharacterClass.isPunctuation),
                                       behavior: .isolated),
        ])
    case "Punctuation":
        let behavior = config.has("behavior")
            ? try SplitBehavior(json: config.json["behavior"]?.string, component: config.path) : .isolated
        return CharacterSplitPreTokenizer(pattern: CharacterPattern(predicate: CharacterClass.isPunctuation),
                                          behavior: behavior)
    case "Digits":
        let individual = try config.bool("individual_digits", default: false)
        return CharacterSplitPreTokenizer(pattern: CharacterPattern(predicate: CharacterClass.isNumeric),
                                          behavior: individual ? .isolated : .contiguous)
    case "CharDelimiterSplit", "Delimiter":
        let delimiter = try config.scalar("delimiter")
        return CharacterSplitPreTokenizer(pattern: CharacterPattern(predicate: { $0 == delimiter }),
                                          behavior: .removed)
    default:
        throw config.unsupported()
    }
}

struct SequencePreTokenizer: PreTokenizer {
    let preTokenizers: [PreTokenizer]

    func preTokenize(_ piece: TextPiece) -> [TextPiece] {
        preTokenizers.reduce([piece]) { $1.preTokenize(all: $0) }
    }
}

/// Split on a literal or a regular expression (Qwen2's and Llama-3's word patterns use `invert: false` with
/// `Isolated`, so the matches are the words).
struct SplitPreTokenizer: PreTokenizer {
    let pattern: Pattern
    let behavior: SplitBehavior
    let invert: Bool

    func preTokenize(_ piece: TextPiece) -> [TextPiece] {
        split(piece, on: pattern, behavior: behavior, invert: invert)
    }
}

/// Split on every character of a class (whitespace, punctuation, digits, one delimiter).
struct CharacterSplitPreTokenizer: PreTokenizer {
    let pattern: CharacterPattern
    let behavior: SplitBehavior

    func preTokenize(_ piece: TextPiece) -> [TextPiece] {
        split(piece, on: pattern, behavior: behavior)
    }
}

/// Words are runs of `\w` characters or runs of other non-space characters; whitespace is dropped (the
/// library's regex `\w+|[^\w\s]+`, written out).
struct WhitespacePreTokenizer: PreTokenizer {
    func preTokenize(_ piece: TextPiece) -> [TextPiece] {
        var words: [TextPiece] = []
        let text = piece.text
        var index = 0
        while index < text.count {
            let scalar = text[index]
            if CharacterClass.isWord(scalar) {
                let start = index
                while index < text.count && CharacterClass.isWord(text[index]) { index += 1 }
                words.append(TextPiece(text: Array(text[start..<index]), startsInput: piece.startsInput && start == 0))
            } else if !CharacterClass.isWhitespace(scalar) {
                let start = index
                while index < text.count && !CharacterClass.isWord(text[index])
                    && !CharacterClass.isWhitespace(text[index]) {
                    index += 1
                }
                words.append(TextPiece(text: Array(text[start..<index]), startsInput: piece.startsInput && start == 0))
            } else {
                index += 1
            }
        }
        return words
    }
}

/// When Metaspace adds its replacement character in front of a piece.
enum PrependScheme: String, Sendable {
    case always, never, first

    /// Reads "prepend_scheme", honouring the legacy "add_prefix_space": false.
    init(_ config: ComponentConfig) throws {
        let legacyPrefix = try config.optionalBool("add_prefix_space")
        if let scheme = try config.optionalString("prepend_scheme") {
            guard let parsed = PrependScheme(rawValue: scheme) else {
                throw TokenizerError.malformed("\(config.path).prepend_scheme \"\(scheme)\" is not always/never/first")
            }
            self = parsed
        } else {
            self = .always
        }
        if legacyPrefix == false { self = .never }
    }
}

/// SentencePiece's convention: spaces become "▁", a "▁" is prepended (always, or only at the start of the
/// input), and with `split` each word starts at a "▁".
struct MetaspacePreTokenizer: PreTokenizer {
    let replacement: Unicode.Scalar
    let prependScheme: PrependScheme
    let splitWords: Bool

    init(_ config: ComponentConfig) throws {
        replacement = try config.scalar("replacement", default: "\u{2581}")
        prependScheme = try PrependScheme(config)
        splitWords = try config.bool("split", default: true)
    }

    func preTokenize(_ piece: TextPiece) -> [TextPiece] {
        var piece = piece
        piece.text = piece.text.map { $0 == " " ? replacement : $0 }
        let prepend: Bool
        switch prependScheme {
        case .always: prepend = true
        case .first: prepend = piece.startsInput
        case .never: prepend = false
        }
        if prepend && piece.text.first != replacement {
            piece.text.insert(replacement, at: 0)
        }
        guard splitWords else { return [piece] }
        let marker = replacement
        return split(piece, on: CharacterPattern(predicate: { $0 == marker }), behavior: .mergedWithNext)
    }
}
