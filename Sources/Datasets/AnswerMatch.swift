/// Exact match as our evaluation defines it: two answers match when their normal forms are equal.
public enum AnswerMatch {
    /// The normal form: lowercased, inner whitespace runs collapsed to one space, surrounding whitespace
    /// trimmed, and final punctuation (`. ! ? , ; :`, repeated or separated by spaces) removed.
    /// `"  Red   Circle. "` and `"red circle"` both normalise to `"red circle"`; inner punctuation stays
    /// (`"3.5"`, `"top-left"`).
    public static func normalize(_ text: String) -> String {
        var words = text.lowercased().split(whereSeparator: \.isWhitespace)
        while var last = words.last {
            while let character = last.last, finalPunctuation.contains(character) { last.removeLast() }
            if last.isEmpty { words.removeLast() } else { words[words.count - 1] = last; break }
        }
        return words.joined(separator: " ")
    }

    /// Whether `prediction` and `reference` are equal after `normalize`.
    public static func matches(_ prediction: String, _ reference: String) -> Bool {
        normalize(prediction) == normalize(reference)
    }

    private static let finalPunctuation: Set<Character> = [".", "!", "?", ",", ";", ":"]
}
