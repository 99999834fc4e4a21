/// Text moves through the pipeline as arrays of Unicode scalars: the reference library works on Rust `char`s
/// (scalar values), never on grapheme clusters, and Swift `String` comparison would treat canonically
/// equivalent text as equal where the library does not.
typealias Scalars = [Unicode.Scalar]

/// The character classes the reference library uses, by their Rust definitions.
///
/// The library's classes come from crates with Unicode tables of different vintages; Swift's are newer
/// (Unicode 17). Where it matters the classes below only count characters assigned by the version the
/// library's table has, found by probing tokenizers 0.23.3: regex `\w` 16.0, punctuation and "other"
/// (the `unicode_categories` crate) 8.0, combining marks (`unicode-normalization-alignments`) 9.0. ICU's
/// regular expressions are at 16.0, as Oniguruma's are.
enum CharacterClass {
    /// Whether `scalar` was assigned in Unicode `major.minor` or earlier.
    static func assigned(_ scalar: Unicode.Scalar, by major: Int, _ minor: Int) -> Bool {
        guard let age = scalar.properties.age else { return false }
        return age.major < major || (age.major == major && age.minor <= minor)
    }

    /// Rust `char::is_whitespace`, regex `\s`: the Unicode White_Space property.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 {
            return scalar == " " || (0x09...0x0D).contains(scalar.value)
        }
        return scalar.properties.isWhitespace
    }

    /// Rust regex `\w` in Unicode mode: Alphabetic, marks, decimal digits, connector punctuation, Join_Control.
    static func isWord(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 {
            let v = scalar.value
            return (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v) || v == 0x5F
        }
        let properties = scalar.properties
        guard assigned(scalar, by: 16, 0) else { return false }
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// The library's `is_punc`: ASCII punctuation (which includes symbols such as `$` and `+`) or any
    /// Unicode punctuation category.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 {
            return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v)
                || (0x7B...0x7E).contains(v)
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation:
            return assigned(scalar, by: 8, 0)
        default:
            return false
        }
    }

    /// Rust `char::is_numeric`: general categories Nd, Nl and No.
    static func isNumeric(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 { return (0x30...0x39).contains(scalar.value) }
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// Any mark category (Mn, Mc, Me): what `StripAccents` removes.
    static func isMark(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 { return false }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return assigned(scalar, by: 9, 0)
        default: return false
        }
    }

    /// Nonspacing marks (Mn) only: what the BERT normalizer's accent stripping removes.
    static func isNonspacingMark(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value >= 0x80 && scalar.properties.generalCategory == .nonspacingMark && assigned(scalar, by: 8, 0)
    }

    /// The BERT normalizer's control characters: the "Other" categories Cc, Cf, Co and Cs. Unassigned code
    /// points (Cn) are kept, as the library's `is_other` keeps them.
    static func isOther(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .privateUse, .surrogate: return true
        case .format: return assigned(scalar, by: 8, 0)
        default: return false
        }
    }

    /// Rust `char::to_lowercase`: the full, context-free lowercase mapping of one scalar.
    static func appendLowercase(_ scalar: Unicode.Scalar, to output: inout Scalars) {
        if scalar.value < 0x80 {
            let v = scalar.value
            output.append((0x41...0x5A).contains(v) ? Unicode.Scalar(v + 32)! : scalar)
            return
        }
        output.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
    }
}

extension Array where Element == Unicode.Scalar {
    /// The scalars of `string`, exactly (no normalisation).
    init(scalarsOf string: String) {
        self.init(string.unicodeScalars)
    }

    /// A `String` holding exactly these scalars.
    var string: String {
        var result = String()
        result.unicodeScalars.append(contentsOf: self)
        return result
    }

    /// The UTF-8 encoding of these scalars.
    var utf8Bytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        for scalar in self { bytes.append(contentsOf: UTF8.encode(scalar)!) }
        return bytes
    }
}

extension String {
    /// Exact equality of Unicode scalars, unlike `==`, which compares canonical equivalence.
    func hasSameScalars(as other: String) -> Bool {
        utf8.elementsEqual(other.utf8)
    }
}
