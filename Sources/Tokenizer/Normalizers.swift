import Foundation

/// The first stage: rewrites a piece of text (Unicode normalisation, case, the Llama "▁" convention, …).
///
/// It runs on each stretch of input between added tokens separately, as the library does, so a `Prepend`
/// applies again after every special token.
protocol Normalizer: Sendable {
    func normalize(_ text: Scalars) -> Scalars
}

/// Builds the normalizer named by `config`'s "type".
func makeNormalizer(_ config: ComponentConfig) throws -> Normalizer {
    switch try config.type() {
    case "Sequence":
        return SequenceNormalizer(normalizers: try config.children("normalizers").map(makeNormalizer))
    case "NFC": return UnicodeNormalizer(form: .nfc)
    case "NFD": return UnicodeNormalizer(form: .nfd)
    case "NFKC": return UnicodeNormalizer(form: .nfkc)
    case "NFKD": return UnicodeNormalizer(form: .nfkd)
    case "Lowercase":
        return LowercaseNormalizer()
    case "Strip":
        return StripNormalizer(left: try config.bool("strip_left", default: true),
                               right: try config.bool("strip_right", default: true))
    case "StripAccents":
        return StripAccentsNormalizer()
    case "Replace":
        return ReplaceNormalizer(pattern: try makePattern(config.json["pattern"], component: config.path),
                                 content: Scalars(scalarsOf: try config.string("content")))
    case "Prepend":
        return PrependNormalizer(prefix: Scalars(scalarsOf: try config.string("prepend")))
    case "Nmt":
        return NmtNormalizer()
    case "BertNormalizer", "Bert":
        let lowercase = try config.bool("lowercase", default: true)
        return BertNormalizer(cleanText: try config.bool("clean_text", default: true),
                              handleChineseCharacters: try config.bool("handle_chinese_chars", default: true),
                              stripAccents: try config.optionalBool("strip_accents") ?? lowercase,
                              lowercase: lowercase)
    case "ByteLevel":
        return ByteLevelNormalizer()
    default:
        throw config.unsupported()
    }
}

struct SequenceNormalizer: Normalizer {
    let normalizers: [Normalizer]

    func normalize(_ text: Scalars) -> Scalars {
        normalizers.reduce(text) { $1.normalize($0) }
    }
}

/// NFC, NFD, NFKC or NFKD.
///
/// The library's normalisation tables are Unicode 9.0. Characters assigned later are unassigned to it:
/// left as they are, and (having combining class 0 there) never reordered or composed across. Normalising
/// the runs between them with Foundation's newer tables gives the same result, since decompositions of
/// existing characters never change.
struct UnicodeNormalizer: Normalizer {
    enum Form { case nfc, nfd, nfkc, nfkd }
    let form: Form

    func normalize(_ text: Scalars) -> Scalars {
        // Pure ASCII is invariant under every form; skip the round trip through Foundation.
        if text.allSatisfy({ $0.isASCII }) { return text }
        var result = Scalars()
        result.reserveCapacity(text.count)
        var runStart = 0
        for (index, scalar) in text.enumerated() where !scalar.isASCII && !CharacterClass.assigned(scalar, by: 9, 0) {
            result.append(contentsOf: normalizeRun(text[runStart..<index]))
            result.append(scalar)
            runStart = index + 1
        }
        result.append(contentsOf: normalizeRun(text[runStart...]))
        return result
    }

    private func normalizeRun(_ run: ArraySlice<Unicode.Scalar>) -> Scalars {
        if run.allSatisfy({ $0.isASCII }) { return Array(run) }
        let string = Array(run).string
        let normalized: String
        switch form {
        case .nfc: normalized = string.precomposedStringWithCanonicalMapping
        case .nfd: normalized = string.decomposedStringWithCanonicalMapping
        case .nfkc: normalized = string.precomposedStringWithCompatibilityMapping
        case .nfkd: normalized = string.decomposedStringWithCompatibilityMapping
        }
        return Scalars(scalarsOf: normalized)
    }
}

struct LowercaseNormalizer: Normalizer {
    func normalize(_ text: Scalars) -> Scalars {
        var result = Scalars()
        result.reserveCapacity(text.count)
        for scalar in text { CharacterClass.appendLowercase(scalar, to: &result) }
        return result
    }
}

/// Removes leading and/or trailing whitespace.
struct StripNormalizer: Normalizer {
    let left: Bool
    let right: Bool

    func normalize(_ text: Scalars) -> Scalars {
        var lower = 0
        var upper = text.count
        if left { while lower < upper && CharacterClass.isWhitespace(text[lower]) { lower += 1 } }
        if right { while upper > lower && CharacterClass.isWhitespace(text[upper - 1]) { upper -= 1 } }
        return Array(text[lower..<upper])
    }
}

/// Removes combining marks (it does not decompose first: pair it with NFD/NFKD, as tokenizers do).
struct StripAccentsNormalizer: Normalizer {
    func normalize(_ text: Scalars) -> Scalars {
        text.filter { !CharacterClass.isMark($0) }
    }
}

struct ReplaceNormalizer: Normalizer {
    let pattern: Pattern
    let content: Scalars

    func normalize(_ text: Scalars) -> Scalars {
        replacing(pattern, in: text, with: content)
    }
}

/// Prepends a prefix to non-empty text (Llama-2's "▁").
struct PrependNormalizer: Normalizer {
    let prefix: Scalars

    func normalize(_ text: Scalars) -> Scalars {
        text.isEmpty ? text : prefix + text
    }
}

/// SentencePiece's "nmt" rules: drop control characters, turn other spacing characters into spaces.
struct NmtNormalizer: Normalizer {
    func normalize(_ text: Scalars) -> Scalars {
        var result = Scalars()
        result.reserveCapacity(text.count)
        for scalar in text {
            switch scalar.value {
            case 0x01...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x8F, 0x9F:
                continue
            case 0x09, 0x0A, 0x0C, 0x0D, 0x1680, 0x200B...0x200F, 0x2028, 0x2029, 0x2581, 0xFEFF, 0xFFFD:
                result.append(" ")
            default:
                result.append(scalar)
            }
        }
        return result
    }
}

/// BERT's normaliser: clean control characters, pad CJK ideographs with spaces, strip accents, lowercase.
struct BertNormalizer: Normalizer {
    let cleanText: Bool
    let handleChineseCharacters: Bool
    let stripAccents: Bool
    let lowercase: Bool

    func normalize(_ text: Scalars) -> Scalars {
        var result = text
        if cleanText {
            result = result.compactMap { scalar in
                if scalar == "\t" || scalar == "\n" || scalar == "\r" { return " " }
                if scalar.value == 0 || scalar.value == 0xFFFD || CharacterClass.isOther(scalar) { return nil }
                return CharacterClass.isWhitespace(scalar) ? " " : scalar
            }
        }
        if handleChineseCharacters {
            var padded = Scalars()
            padded.reserveCapacity(result.count)
            for scalar in result {
                if Self.isChineseCharacter(scalar) {
                    padded.append(contentsOf: [" ", scalar, " "])
                } else {
                    padded.append(scalar)
                }
            }
            result = padded
        }
        if stripAccents {
            result = UnicodeNormalizer(form: .nfd).normalize(result).filter { !CharacterClass.isNonspacingMark($0) }
        }
        if lowercase {
            result = LowercaseNormalizer().normalize(result)
        }
        return result
    }

    static func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
