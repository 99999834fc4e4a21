import Foundation

/// Something that finds delimiters in text: a literal string, a regular expression or a character class.
/// Used by the Split, Punctuation, Digits, … pre-tokenizers and by the Replace normalizer and decoder.
protocol Pattern: Sendable {
    /// The matches in `text`, sorted and non-overlapping, as scalar index ranges.
    func matches(in text: Scalars) -> [Range<Int>]
}

/// A literal string, matched left to right without overlaps.
struct LiteralPattern: Pattern {
    let needle: Scalars

    func matches(in text: Scalars) -> [Range<Int>] {
        guard !needle.isEmpty, text.count >= needle.count else { return [] }
        var result: [Range<Int>] = []
        let first = needle[0]
        var start = 0
        let last = text.count - needle.count
        while start <= last {
            if text[start] == first && text[start..<(start + needle.count)].elementsEqual(needle) {
                result.append(start..<(start + needle.count))
                start += needle.count
            } else {
                start += 1
            }
        }
        return result
    }
}

/// Every scalar for which the predicate holds is a match of its own.
struct CharacterPattern: Pattern {
    let predicate: @Sendable (Unicode.Scalar) -> Bool

    func matches(in text: Scalars) -> [Range<Int>] {
        var result: [Range<Int>] = []
        for (index, scalar) in text.enumerated() where predicate(scalar) {
            result.append(index..<(index + 1))
        }
        return result
    }
}

/// A regular expression, run by ICU through `NSRegularExpression`.
///
/// The library uses Oniguruma; for the patterns tokenizers ship (GPT-2's, Qwen2's, Llama-3's: `\p{L}`,
/// `\p{N}`, `\s` as White_Space, `(?i:…)`, lookahead) both engines agree. `^` and `$` are line anchors, as in
/// Oniguruma's Ruby syntax.
struct RegexPattern: Pattern {
    let source: String
    private let regex: NSRegularExpression

    init(_ source: String, component: String) throws {
        self.source = source
        do {
            regex = try NSRegularExpression(pattern: source, options: [.anchorsMatchLines])
        } catch {
            throw TokenizerError.invalidPattern(component: component, pattern: source, reason: "\(error)")
        }
    }

    func matches(in text: Scalars) -> [Range<Int>] {
        guard !text.isEmpty else { return [] }
        // ICU reports UTF-16 offsets; map them back to scalar indices.
        var scalarIndexOfUTF16 = [Int](repeating: 0, count: text.count * 2 + 1)
        var utf16Offset = 0
        for (index, scalar) in text.enumerated() {
            scalarIndexOfUTF16[utf16Offset] = index
            utf16Offset += scalar.value > 0xFFFF ? 2 : 1
        }
        scalarIndexOfUTF16[utf16Offset] = text.count
        let string = text.string
        var result: [Range<Int>] = []
        regex.enumerateMatches(in: string, options: [], range: NSRange(location: 0, length: utf16Offset)) { match, _, _ in
            guard let range = match?.range, range.location != NSNotFound else { return }
            let lower = scalarIndexOfUTF16[range.location]
            let upper = scalarIndexOfUTF16[range.location + range.length]
            result.append(lower..<upper)
        }
        return result
    }
}

/// The "pattern" object of Split and Replace: `{"String": "…"}` or `{"Regex": "…"}`.
func makePattern(_ json: JSONValue?, component: String) throws -> Pattern {
    if let literal = json?["String"]?.string {
        return LiteralPattern(needle: Scalars(scalarsOf: literal))
    }
    if let regex = json?["Regex"]?.string {
        return try RegexPattern(regex, component: component)
    }
    throw TokenizerError.malformed("\(component).pattern should be {\"String\": …} or {\"Regex\": …}")
}

/// What happens to the delimiters when splitting (the library's `SplitDelimiterBehavior`). Splitting
/// "the-final--countdown" on "-":
///  - removed: "the", "final", "countdown"
///  - isolated: "the", "-", "final", "-", "-", "countdown"
///  - mergedWithPrevious: "the-", "final-", "-", "countdown"
///  - mergedWithNext: "the", "-final", "-", "-countdown"
///  - contiguous: "the", "-", "final", "--", "countdown"
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    init(json: String?, component: String) throws {
        guard let json, let behavior = SplitBehavior(rawValue: json) else {
            throw TokenizerError.malformed("\(component).behavior \"\(json ?? "null")\" is not a split behavior")
        }
        self = behavior
    }
}

/// A run of text between the pipeline's stages, with whether it begins at the very start of the input
/// (Metaspace's `prepend_scheme: "first"` depends on it).
struct TextPiece {
    var text: Scalars
    var startsInput: Bool
}

/// The whole of `text` cut into consecutive segments, each flagged as a match or not; `invert` swaps the
/// flags (Whitespace and invert:true Split patterns match the words, not the delimiters).
func segments(of text: Scalars, matching pattern: Pattern, invert: Bool = false) -> [(range: Range<Int>, isMatch: Bool)] {
    var result: [(range: Range<Int>, isMatch: Bool)] = []
    var previous = 0
    for match in pattern.matches(in: text) {
        if previous != match.lowerBound {
            result.append((previous..<match.lowerBound, invert))
        }
        result.append((match, !invert))
        previous = match.upperBound
    }
    if previous != text.count {
        result.append((previous..<text.count, invert))
    }
    return result
}

/// Splits `piece` around the matches of `pattern`, keeping or merging the delimiters as `behavior` says.
/// Empty results are dropped (the library drops them when it collects the splits).
func split(_ piece: TextPiece, on pattern: Pattern, behavior: SplitBehavior, invert: Bool = false) -> [TextPiece] {
    let parts = segments(of: piece.text, matching: pattern, invert: invert)
    var kept: [Range<Int>] = []
    switch behavior {
    case .isolated:
        kept = parts.map(\.range)
    case .removed:
        kept = parts.filter { !$0.isMatch }.map(\.range)
    case .contiguous:
        var previousMatch = false
        for part in parts {
            if part.isMatch == previousMatch, let last = kept.last {
                kept[kept.count - 1] = last.lowerBound..<part.range.upperBound
            } else {
                kept.append(part.range)
            }
            previousMatch = part.isMatch
        }
    case .mergedWithPrevious:
        var previousMatch = false
        for part in parts {
            if part.isMatch && !previousMatch, let last = kept.last {
                kept[kept.count - 1] = last.lowerBound..<part.range.upperBound
            } else {
                kept.append(part.range)
            }
            previousMatch = part.isMatch
        }
    case .mergedWithNext:
        var previousMatch = false
        for part in parts.reversed() {
            if part.isMatch && !previousMatch, let last = kept.last {
                kept[kept.count - 1] = part.range.lowerBound..<last.upperBound
            } else {
                kept.append(part.range)
            }
            previousMatch = part.isMatch
        }
        kept.reverse()
    }
    return kept.compactMap { range in
        guard !range.isEmpty else { return nil }
        return TextPiece(text: Array(piece.text[range]), startsInput: piece.startsInput && range.lowerBound == 0)
    }
}

/// `text` with every match of `pattern` replaced by `content`.
func replacing(_ pattern: Pattern, in text: Scalars, with content: Scalars) -> Scalars {
    let matches = pattern.matches(in: text)
    guard !matches.isEmpty else { return text }
    var result = Scalars()
    result.reserveCapacity(text.count)
    var previous = 0
    for match in matches {
        result.append(contentsOf: text[previous..<match.lowerBound])
        result.append(contentsOf: content)
        previous = match.upperBound
    }
    result.append(contentsOf: text[previous...])
    return result
}
