/// Turns token strings back into text. Each decoder maps a list of tokens to a new list (so decoders chain
/// in a Sequence); the tokenizer joins the final list without separators.
protocol Decoder: Sendable {
    func decodeChain(_ tokens: [String]) -> [String]
}

/// Builds the decoder named by `config`'s "type".
func makeDecoder(_ config: ComponentConfig) throws -> Decoder {
    switch try config.type() {
    case "Sequence":
        return SequenceDecoder(decoders: try config.children("decoders").map(makeDecoder))
    case "ByteLevel":
        return ByteLevelDecoder()
    case "Metaspace":
        return MetaspaceDecoder(replacement: try config.scalar("replacement", default: "\u{2581}"),
                                prependScheme: try PrependScheme(config))
    case "Replace":
        return ReplaceDecoder(pattern: try makePattern(config.json["pattern"], component: config.path),
                              content: Scalars(scalarsOf: try config.string("content")))
    case "ByteFallback":
        return ByteFallbackDecoder()
    case "Fuse":
        return FuseDecoder()
    case "Strip":
        return StripDecoder(content: try config.scalar("content"), start: try config.int("start", default: 0),
                            stop: try config.int("stop", default: 0))
    case "WordPiece":
        return WordPieceDecoder(prefix: Scalars(scalarsOf: try config.optionalString("prefix") ?? "##"),
                                cleanup: try config.bool("cleanup", default: true))
    case "BPEDecoder":
        return BPEDecoder(suffix: Scalars(scalarsOf: try config.optionalString("suffix") ?? "</w>"))
    case "CTC":
        return CTCDecoder(padToken: Scalars(scalarsOf: try config.optionalString("pad_token") ?? "<pad>"),
                          wordDelimiter: Scalars(scalarsOf: try config.optionalString("word_delimiter_token") ?? "|"),
                          cleanup: try config.bool("cleanup", default: true))
    default:
        throw config.unsupported()
    }
}

struct SequenceDecoder: Decoder {
    let decoders: [Decoder]

    func decodeChain(_ tokens: [String]) -> [String] {
        decoders.reduce(tokens) { $1.decodeChain($0) }
    }
}

/// Turns the replacement character back into spaces; in the first token it is removed instead (it was the
/// prepended one) unless the scheme is "never".
struct MetaspaceDecoder: Decoder {
    let replacement: Unicode.Scalar
    let prependScheme: PrependScheme

    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.enumerated().map { index, token in
            var result = Scalars()
            for scalar in token.unicodeScalars {
                if scalar != replacement {
                    result.append(scalar)
                } else if index != 0 || prependScheme == .never {
                    result.append(" ")
                }
            }
            return result.string
        }
    }
}

struct ReplaceDecoder: Decoder {
    let pattern: Pattern
    let content: Scalars

    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.map { token in
            let scalars = Scalars(scalarsOf: token)
            return pattern.matches(in: scalars).isEmpty ? token : replacing(pattern, in: scalars, with: content).string
        }
    }
}

/// Gathers runs of "<0xXX>" tokens into bytes and reads them as UTF-8; an invalid run becomes one U+FFFD per
/// byte.
struct ByteFallbackDecoder: Decoder {
    func decodeChain(_ tokens: [String]) -> [String] {
        var result: [String] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let text = String(validating: pending, as: UTF8.self) {
                result.append(text)
            } else {
                result.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
            }
            pending.removeAll()
        }
        for token in tokens {
            if let byte = Self.byte(of: token) {
                pending.append(byte)
            } else {
                flush()
                result.append(token)
            }
        }
        flush()
        return result
    }

    /// The byte of a six-byte "<0xXX>" token (parsed like Rust's `u8::from_str_radix`, which allows a '+').
    static func byte(of token: String) -> UInt8? {
        let utf8 = Array(token.utf8)
        guard utf8.count == 6, utf8[0] == UInt8(ascii: "<"), utf8[1] == UInt8(ascii: "0"),
              utf8[2] == UInt8(ascii: "x"), utf8[5] == UInt8(ascii: ">") else { return nil }
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        if utf8[3] == UInt8(ascii: "+") { return hex(utf8[4]) }
        guard let high = hex(utf8[3]), let low = hex(utf8[4]) else { return nil }
        return high << 4 | low
    }
}

struct FuseDecoder: Decoder {
    func decodeChain(_ tokens: [String]) -> [String] {
        [tokens.joined()]
    }
}

/// Removes up to `start` leading and `stop` trailing occurrences of `content` from each token.
struct StripDecoder: Decoder {
    let content: Unicode.Scalar
    let start: Int
    let stop: Int

    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.map { token in
            let scalars = Scalars(scalarsOf: token)
            var lower = 0
            while lower < min(start, scalars.count) && scalars[lower] == content { lower += 1 }
            var upper = scalars.count
            var removed = 0
            while removed < stop && upper > 0 && scalars[upper - 1] == content {
                upper -= 1
                removed += 1
            }
            return lower < upper ? Array(scalars[lower..<upper]).string : ""
        }
    }
}

/// Joins WordPiece tokens: "##" continuations attach to the previous token, others get a space.
struct WordPieceDecoder: Decoder {
    let prefix: Scalars
    let cleanup: Bool

    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.enumerated().map { index, token in
            var scalars = Scalars(scalarsOf: token)
            if index != 0 {
                if scalars.starts(with: prefix) {
                    scalars.removeFirst(prefix.count)
                } else {
                    scalars.insert(" ", at: 0)
                }
            }
            return cleanup ? Self.cleanUp(scalars).string : scalars.string
        }
    }

    /// The library's English detokenisation rules (" ." → ".", " n't" → "n't", …), applied in order.
    private static let cleanUpRules: [(pattern: LiteralPattern, replacement: Scalars)] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
        (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { (LiteralPattern(needle: Scalars(scalarsOf: $0.0)), Scalars(scalarsOf: $0.1)) }

    static func cleanUp(_ text: Scalars) -> Scalars {
        // Every rule starts with a space.
        guard text.contains(" ") else { return text }
        return cleanUpRules.reduce(text) { replacing($1.pattern, in: $0, with: $1.replacement) }
    }
}

/// Original BPE's end-of-word suffix becomes a space (nothing after the last token).
struct BPEDecoder: Decoder {
    let suffix: Scalars

    func decodeChain(_ tokens: [String]) -> [String] {
        let pattern = LiteralPattern(needle: suffix)
        return tokens.enumerated().map { index, token in
            let replacement: Scalars = index == tokens.count - 1 ? [] : [" "]
            return replacing(pattern, in: Scalars(scalarsOf: token), with: replacement).string
        }
    }
}

/// Connectionist temporal classification output: collapse repeats, drop padding, delimiters become spaces.
struct CTCDecoder: Decoder {
    let padToken: Scalars
    let wordDelimiter: Scalars
    let cleanup: Bool

    func decodeChain(_ tokens: [String]) -> [String] {
        var result: [String] = []
        var previous: String?
        for token in tokens {
            if let previous, previous.hasSameScalars(as: token) { continue }
            previous = token
            var scalars = replacing(LiteralPattern(needle: padToken), in: Scalars(scalarsOf: token), with: [])
            if cleanup {
                scalars = replacing(LiteralPattern(needle: wordDelimiter), in: WordPieceDecoder.cleanUp(scalars),
                                    with: [" "])
            }
            if !scalars.isEmpty { result.append(scalars.string) }
        }
        return result
    }
}
