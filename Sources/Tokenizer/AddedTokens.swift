/// A token added on top of the model's vocabulary ("added_tokens" in tokenizer.json): special tokens such as
/// "<s>" and "<image>", or user additions. Added tokens are cut out of the text before the model runs.
struct AddedToken: Sendable {
    let content: String
    /// Matches only when not inside a word (no `\w` character right before or after).
    let singleWord: Bool
    /// Swallows the whitespace on its left / right.
    let leftStrip: Bool
    let rightStrip: Bool
    /// Matched against the normalised text (in its normalised form) rather than the raw input.
    let normalized: Bool
    /// Skipped by `decode(skipSpecialTokens: true)`.
    let special: Bool

    init(json: JSONValue, path: String) throws {
        guard let content = json["content"]?.string else { throw TokenizerError.malformed("\(path).content should be a string") }
        self.content = content
        let config = ComponentConfig(path: path, json: json)
        singleWord = try config.bool("single_word", default: false)
        leftStrip = try config.bool("lstrip", default: false)
        rightStrip = try config.bool("rstrip", default: false)
        special = try config.bool("special", default: false)
        normalized = try config.bool("normalized", default: !special)
    }
}

/// The added tokens of a tokenizer and the two matchers that find them: one over the raw input (tokens with
/// `normalized: false`), one over each normalised stretch between those (tokens with `normalized: true`).
struct AddedVocabulary: Sendable {
    private(set) var tokenOfId: [Int: AddedToken] = [:]
    private var idOfContent: [[UInt8]: Int] = [:]
    /// Normalised forms that differ from the content, used for matching and as the decoded token string.
    private var normalizedForm: [Int: String] = [:]
    private var specialContents: Set<[UInt8]> = []
    private(set) var rawMatcher = TokenMatcher()
    private(set) var normalizedMatcher = TokenMatcher()

    init() {}

    /// Adds the tokens in file order, giving ids as the library's `add_tokens` does: the id a token already
    /// has (as an added token or in the model), else the next free one after the model's vocabulary. The
    /// "id" written in the file is not consulted.
    init(tokens: [AddedToken], model: Vocabulary, normalizer: Normalizer?) {
        var nextId = model.count
        for token in tokens where !token.content.isEmpty {
            let key = Array(token.content.utf8)
            let id: Int
            if let existing = idOfContent[key] ?? model.id(of: key) {
                id = existing
            } else {
                id = nextId
                nextId += 1
            }
            if token.normalized, let normalizer {
                let form = normalizer.normalize(Scalars(scalarsOf: token.content)).string
                if !form.hasSameScalars(as: token.content) { normalizedForm[id] = form }
            }
            idOfContent[key] = id
            if token.special { specialContents.insert(key) }
            tokenOfId[id] = token
        }
        // In id order, so that two tokens with the same pattern resolve the same way on every run.
        for (id, token) in tokenOfId.sorted(by: { $0.key < $1.key }) {
            if token.normalized {
                normalizedMatcher.insert(Scalars(scalarsOf: normalizedForm[id] ?? token.content), id: id)
            } else {
                rawMatcher.insert(Scalars(scalarsOf: token.content), id: id)
            }
        }
    }

    var maxId: Int? { tokenOfId.keys.max() }

    func id(of content: String) -> Int? { idOfContent[Array(content.utf8)] }

    /// The string decoding starts from: the normalised form where it differs, else the content.
    func decodingString(of id: Int) -> String? {
        normalizedForm[id] ?? tokenOfId[id]?.content
    }

    /// Whether `token` (any token string, not only added ones) is the content of a special token.
    func isSpecial(_ token: String) -> Bool {
        !specialContents.isEmpty && specialContents.contains(Array(token.utf8))
    }

    /// Cuts `text` into stretches and added tokens, leftmost-longest, honouring single_word, lstrip and
    /// rstrip. Stretches are nil-id ranges; every scalar of `text` is covered exactly once.
    func split(_ text: Scalars, with matcher: TokenMatcher) -> [(range: Range<Int>, id: Int?)] {
        guard !matcher.isEmpty, !text.isEmpty else { return [(0..<text.count, nil)] }
        var result: [(range: Range<Int>, id: Int?)] = []
        var consumed = 0
        var searchFrom = 0
        while let match = matcher.nextMatch(in: text, from: searchFrom) {
            // The matcher resumes after the match itself, whatever the stripping below swallows.
            searchFrom = match.range.upperBound
            guard let token = tokenOfId[match.id] else { continue }
            var start = match.range.lowerBound
            var stop = match.range.upperBound
            if token.singleWord {
                let wordBefore = start > 0 && CharacterClass.isWord(text[start - 1])
                let wordAfter = stop < text.count && CharacterClass.isWord(text[stop])
                if wordBefore || wordAfter { continue }
            }
            if token.leftStrip {
                var newStart = start
                while newStart > 0 && CharacterClass.isWhitespace(text[newStart - 1]) { newStart -= 1 }
                start = max(newStart, consumed)
            }
            if token.rightStrip {
                while stop < text.count && CharacterClass.isWhitespace(text[stop]) { stop += 1 }
            }
            if consumed < start { result.append((consumed..<start, nil)) }
            result.append((start..<stop, match.id))
            consumed = stop
        }
        if consumed < text.count { result.append((consumed..<text.count, nil)) }
        return result
    }
}

/// A trie over token contents, for leftmost-longest matching of a few (or a few thousand) added tokens.
struct TokenMatcher: Sendable {
    private struct Node: Sendable {
        var children: [UInt32: Int32] = [:]
        var id: Int?
    }

    private var nodes = [Node()]
    private var firstScalars: Set<UInt32> = []

    var isEmpty: Bool { nodes.count == 1 }

    mutating func insert(_ content: Scalars, id: Int) {
        guard let first = content.first else { return }
        firstScalars.insert(first.value)
        var node = 0
        for scalar in content {
            if let child = nodes[node].children[scalar.value] {
                node = Int(child)
            } else {
                nodes.append(Node())
                nodes[node].children[scalar.value] = Int32(nodes.count - 1)
                node = nodes.count - 1
            }
        }
        nodes[node].id = id
    }

    /// The leftmost match starting at or after `from`, the longest one at that position.
    func nextMatch(in text: Scalars, from: Int) -> (range: Range<Int>, id: Int)? {
        var start = from
        while start < text.count {
            if firstScalars.contains(text[start].value) {
                var node = 0
                var best: (end: Int, id: Int)?
                var index = start
                while index < text.count, let child = nodes[node].children[text[index].value] {
                    node = Int(child)
                    index += 1
                    if let id = nodes[node].id { best = (index, id) }
                }
                if let best { return (start..<best.end, best.id) }
            }
            start += 1
        }
        return nil
    }
}
