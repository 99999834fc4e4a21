/// GPT-2's byte-level scheme: every byte of the UTF-8 input is shown as one printable character, so a BPE
/// over those characters covers any text without an unknown token.
///
/// The printable bytes `!`…`~`, `¡`…`¬` and `®`…`ÿ` stand for themselves; the other 68 bytes (controls,
/// space, 0x7F–0xA0, the soft hyphen) are given the characters U+0100, U+0101, … in byte order — so the
/// space is "Ġ" (U+0120) and the newline "Ċ" (U+010A).
enum ByteLevel {
    /// The character standing for each byte.
    static let characterOfByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isSelfRepresenting(byte) {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte each table character stands for, indexed by scalar value (all are below U+0144).
    static let byteOfCharacter: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in characterOfByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    private static func isSelfRepresenting(_ byte: Int) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// The byte-level form of `text`: one table character per UTF-8 byte.
    static func encode(_ text: Scalars) -> Scalars {
        var result = Scalars()
        result.reserveCapacity(text.count)
        for scalar in text {
            if scalar.value < 0x80 {
                result.append(characterOfByte[Int(scalar.value)])
            } else {
                for byte in UTF8.encode(scalar)! { result.append(characterOfByte[Int(byte)]) }
            }
        }
        return result
    }

    /// The byte a table character stands for, or nil for any other character.
    static func byte(of scalar: Unicode.Scalar) -> UInt8? {
        guard scalar.value < 0x144 else { return nil }
        let byte = byteOfCharacter[Int(scalar.value)]
        return byte < 0 ? nil : UInt8(byte)
    }

    /// GPT-2's split pattern, built into the ByteLevel pre-tokenizer.
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
}

/// The ByteLevel pre-tokenizer: optionally adds a leading space, splits with GPT-2's pattern, and maps each
/// piece to its byte-level characters.
struct ByteLevelPreTokenizer: PreTokenizer {
    let addPrefixSpace: Bool
    let splitter: Pattern?

    init(addPrefixSpace: Bool, useRegex: Bool) throws {
        self.addPrefixSpace = addPrefixSpace
        splitter = useRegex ? try RegexPattern(ByteLevel.gpt2Pattern, component: "ByteLevel") : nil
    }

    func preTokenize(_ piece: TextPiece) -> [TextPiece] {
        var piece = piece
        if addPrefixSpace && piece.text.first != " " {
            piece.text.insert(" ", at: 0)
        }
        let words = splitter.map { split(piece, on: $0, behavior: .isolated) } ?? [piece]
        return words.map { TextPiece(text: ByteLevel.encode($0.text), startsInput: $0.startsInput) }
    }
}

/// The ByteLevel normalizer: the byte-level mapping without any splitting.
struct ByteLevelNormalizer: Normalizer {
    func normalize(_ text: Scalars) -> Scalars {
        ByteLevel.encode(text)
    }
}

/// The ByteLevel decoder: turns table characters back into bytes across all tokens, then reads the bytes as
/// UTF-8, replacing invalid sequences with U+FFFD. A token holding any character outside the table (an added
/// token such as "<|im_start|>" is fine, "café" is not) contributes its own UTF-8 bytes instead.
struct ByteLevelDecoder: Decoder {
    func decodeChain(_ tokens: [String]) -> [String] {
        var bytes: [UInt8] = []
        for token in tokens {
            let start = bytes.count
            var mapped = true
            for scalar in token.unicodeScalars {
                guard let byte = ByteLevel.byte(of: scalar) else {
                    mapped = false
                    break
                }
                bytes.append(byte)
            }
            if !mapped {
                bytes.removeSubrange(start...)
                bytes.append(contentsOf: token.utf8)
            }
        }
        return [String(decoding: bytes, as: UTF8.self)]
    }
}
