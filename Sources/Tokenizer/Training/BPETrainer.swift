import Foundation

/// Trains a byte-level BPE tokenizer (GPT-2 / Qwen2 style) from plain text, for models built from nothing.
///
/// The result encodes any UTF-8 text and decodes any id sequence: the 256 byte symbols are always in the
/// vocabulary, so a word never seen in training still encodes (as smaller pieces, down to single bytes).
///
/// Vocabulary layout, by id:
/// 1. the special tokens, in the order given (e.g. `<s>` 0, `</s>` 1, `<pad>` 2, `<image>` 3); they are also
///    added tokens, so they are cut out of any text before BPE runs and always encode to their own id;
/// 2. the 256 byte symbols, ordered by their characters' code points (GPT-2's order: `!` … `~`, `¡` … `¬`,
///    `®` … `ÿ`, then `Ā` … `Ń` for the bytes that are not printable; the space is `Ġ`);
/// 3. the learned tokens, in the order they were merged.
///
/// Training cuts each text exactly as encoding will: special tokens out, then the pre-tokenizer's words
/// (run by the same code that the loaded tokenizer uses). Merges are learned by the algorithm of the
/// `tokenizers` library's `BpeTrainer` (see `MergeLearner`): most frequent pair first, ties to the pair of
/// older tokens (smaller ids). The library, given the same words, the same special tokens and the byte
/// alphabet as initial alphabet, learns the same vocabulary and merges; the fixtures check it.
///
/// Deterministic: the same corpus (in any order) gives the same tokenizer, byte for byte, on every run and
/// machine — nothing depends on hash order or the number of threads.
///
/// ```swift
/// let trainer = BPETrainer(vocabularySize: 1024, specialTokens: ["<s>", "</s>", "<pad>", "<image>"],
///                          bosToken: "<s>", eosToken: "</s>", padToken: "<pad>")
/// let trained = trainer.train(corpus: sentences)
/// try trained.write(to: modelDirectory)     // tokenizer.json + tokenizer_config.json
/// ```
public struct BPETrainer: Sendable {
    /// How text is cut into words before BPE (a merge never crosses a word boundary). Both map each word to
    /// byte-level characters and neither normalises, so decoding gives back exactly the encoded text.
    public enum PreTokenization: String, Sendable, CaseIterable {
        /// GPT-2's: the ByteLevel pre-tokenizer with its built-in pattern — English contractions, letters and
        /// numbers each with an optional leading space (" 123" is one word), other symbols, whitespace.
        case gpt2
        /// Qwen2's pattern in a Split, then ByteLevel without a pattern of its own: every digit is a word of
        /// its own, a letter run takes one leading non-letter (" the", "(the"), contractions ignore case,
        /// newlines are kept apart from other text. (Qwen2 also applies NFC; this does not.)
        case qwen2
    }

    /// Qwen2's split pattern (as in its tokenizer.json).
    static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Number of tokens wanted, special tokens and the 256 byte symbols included.
    public let vocabularySize: Int
    /// Special tokens, given the first ids in this order.
    public let specialTokens: [String]
    /// A pair must occur at least this often (counting every occurrence in the corpus) to be merged.
    public let minimumFrequency: Int
    /// The token the post-processor puts in front of every encoded text (nil: none is added).
    public let bosToken: String?
    /// Written to tokenizer_config.json as the end-of-sequence token; never added by encoding.
    public let eosToken: String?
    /// Written to tokenizer_config.json as the padding token.
    public let padToken: String?
    public let preTokenization: PreTokenization

    /// - Parameters:
    ///   - vocabularySize: tokens wanted in total; at least `specialTokens.count + 256`. The result is
    ///     smaller only when the corpus runs out of pairs occurring `minimumFrequency` times (see
    ///     `TrainedTokenizer.vocabularySize`).
    ///   - specialTokens: non-empty, distinct strings, none of them a single byte symbol; they get ids
    ///     0, 1, … in this order.
    ///   - minimumFrequency: pairs rarer than this are never merged.
    ///   - bosToken, eosToken, padToken: roles for some of `specialTokens` (each must be one of them).
    ///   - preTokenization: how text is cut into words; `.qwen2` (single digits) by default.
    ///
    /// Invalid arguments are programming mistakes and stop the program.
    public init(vocabularySize: Int, specialTokens: [String], minimumFrequency: Int = 2,
                bosToken: String? = nil, eosToken: String? = nil, padToken: String? = nil,
                preTokenization: PreTokenization = .qwen2) {
        precondition(Set(specialTokens.map { Array($0.utf8) }).count == specialTokens.count,
                     "BPETrainer: special tokens must be distinct")
        for token in specialTokens {
            precondition(!token.isEmpty, "BPETrainer: a special token is empty")
            let scalars = Array(token.unicodeScalars)
            precondition(!(scalars.count == 1 && ByteLevel.byte(of: scalars[0]) != nil),
                         "BPETrainer: special token \"\(token)\" is a byte symbol")
        }
        precondition(vocabularySize >= specialTokens.count + 256,
                     "BPETrainer: vocabularySize \(vocabularySize) < \(specialTokens.count) special tokens + 256 bytes")
        precondition(minimumFrequency >= 0, "BPETrainer: minimumFrequency must not be negative")
        for role in [bosToken, eosToken, padToken] {
            if let role {
                precondition(specialTokens.contains { $0.hasSameScalars(as: role) },
                             "BPETrainer: \"\(role)\" is not one of the special tokens")
            }
        }
        self.vocabularySize = vocabularySize
        self.specialTokens = specialTokens
        self.minimumFrequency = minimumFrequency
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.padToken = padToken
        self.preTokenization = preTokenization
    }

    /// Learns the vocabulary and merges from `corpus` (any number of texts; special tokens in them are
    /// cut out and never merged with their surroundings).
    public func train(corpus: [String]) -> TrainedTokenizer {
        let counter = WordCounter(specialTokens: specialTokens, preTokenization: preTokenization)
        let (words, counts) = counter.count(corpus)

        // Special tokens, then the byte symbols in code-point order.
        var tokens = specialTokens.map { Array($0.utf8) }
        let byteCharacters = ByteLevel.characterOfByte.sorted { $0.value < $1.value }
        var idOfByte = [Int32](repeating: 0, count: 256)
        for character in byteCharacters {
            idOfByte[Int(ByteLevel.byte(of: character)!)] = Int32(tokens.count)
            tokens.append(Array(String(character).utf8))
        }
        let symbols = words.map { word in word.map { idOfByte[Int($0)] } }

        var learner = MergeLearner(tokens: tokens, words: symbols, counts: counts)
        learner.run(vocabularySize: vocabularySize, minimumFrequency: minimumFrequency)

        let strings = learner.tokens.map { String(decoding: $0, as: UTF8.self) }
        let merges = learner.rankedMerges.map {
            TrainedTokenizer.Merge(left: strings[Int($0.left)], right: strings[Int($0.right)])
        }
        return TrainedTokenizer(tokens: strings, merges: merges, specialTokens: specialTokens,
                                bosToken: bosToken, eosToken: eosToken, padToken: padToken,
                                preTokenization: preTokenization, requestedVocabularySize: vocabularySize,
                                distinctWords: words.count)
    }
}

/// Cuts texts into words exactly as the trained tokenizer's encoder will, and counts them.
///
/// The components are built from the same JSON that goes into tokenizer.json, by the same factories the
/// loader uses, so training and encoding cannot disagree about where words begin and end.
struct WordCounter {
    let addedVocabulary: AddedVocabulary
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer

    init(specialTokens: [String], preTokenization: BPETrainer.PreTokenization) {
        do {
            let added = try ByteLevelBPEFormat.addedTokens(specialTokens).array!.enumerated().map {
                try AddedToken(json: $0.element, path: "added_tokens[\($0.offset)]")
            }
            let ids = JSONValue.object(specialTokens.enumerated().map { ($0.element, .number(Double($0.offset))) })
            let vocabulary = try Vocabulary(json: ids, component: "model")
            let normalizerJSON = ByteLevelBPEFormat.normalizer
            normalizer = normalizerJSON.isNull ? nil
                : try makeNormalizer(ComponentConfig(path: "normalizer", json: normalizerJSON))
            addedVocabulary = AddedVocabulary(tokens: added, model: vocabulary, normalizer: normalizer)
            preTokenizer = try makePreTokenizer(ComponentConfig(path: "pre_tokenizer",
                                                                json: ByteLevelBPEFormat.preTokenizer(preTokenization)))
        } catch {
            preconditionFailure("WordCounter: the trainer's own components do not load: \(error)")
        }
    }

    /// The distinct words (as UTF-8 bytes) in order of first appearance, and how often each occurs.
    func count(_ texts: [String]) -> (words: [[UInt8]], counts: [Int]) {
        // Corpora for small models repeat whole texts a lot; cut each distinct text once. Keys are the
        // exact bytes: String equality would merge canonically equivalent texts that encode differently.
        var repeated = WordCounts()
        for text in texts { repeated.add(Array(text.utf8), 1) }
        let (distinct, repeats) = (repeated.words, repeated.counts)

        // Cutting texts (the regular expressions) is most of the time: split it over the cores, in
        // contiguous chunks whose results are merged in chunk order, so the outcome is the same as on one
        // thread.
        let chunkCount = max(1, min(ProcessInfo.processInfo.activeProcessorCount, distinct.count / 2000))
        let chunks = ChunkResults(count: chunkCount)
        DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
            var local = WordCounts()
            let range = (distinct.count * chunk / chunkCount)..<(distinct.count * (chunk + 1) / chunkCount)
            for index in range {
                for word in words(of: String(decoding: distinct[index], as: UTF8.self)) { local.add(word, repeats[index]) }
            }
            chunks.store(local, at: chunk)
        }
        var total = WordCounts()
        for chunk in chunks.take() {
            for (word, count) in zip(chunk.words, chunk.counts) { total.add(word, count) }
        }
        return (total.words, total.counts)
    }

    /// Words with their counts, in order of first appearance.
    private struct WordCounts {
        var words: [[UInt8]] = []
        var counts: [Int] = []
        var indexOfWord: [ByteKey: Int] = [:]

        mutating func add(_ word: [UInt8], _ count: Int) {
            let word = ByteKey(bytes: word)
            if let index = indexOfWord[word] {
                counts[index] += count
            } else {
                indexOfWord[word] = words.count
                words.append(word.bytes)
                counts.append(count)
            }
        }
    }

    /// Bytes as a dictionary key, hashed in one call rather than byte by byte (most of the counting time
    /// otherwise).
    private struct ByteKey: Hashable {
        let bytes: [UInt8]

        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    /// Per-chunk results, written from the worker threads (each to its own slot, under a lock).
    private final class ChunkResults: @unchecked Sendable {
        private let lock = NSLock()
        private var results: [WordCounts]

        init(count: Int) { results = Array(repeating: WordCounts(), count: count) }

        func store(_ counts: WordCounts, at index: Int) {
            lock.lock()
            results[index] = counts
            lock.unlock()
        }

        func take() -> [WordCounts] {
            lock.lock()
            defer { lock.unlock() }
            return results
        }
    }

    /// The words of one text, as the bytes they stand for.
    func words(of text: String) -> [[UInt8]] {
        let input = Scalars(scalarsOf: text)
        var result: [[UInt8]] = []
        for part in addedVocabulary.split(input, with: addedVocabulary.rawMatcher) where part.id == nil {
            guard !part.range.isEmpty else { continue }
            var stretch = Array(input[part.range])
            if let normalizer { stretch = normalizer.normalize(stretch) }
            guard !stretch.isEmpty else { continue }
            let piece = TextPiece(text: stretch, startsInput: part.range.lowerBound == 0)
            for word in preTokenizer.preTokenize(all: [piece]) {
                // Every character is one of the 256 byte symbols: the pre-tokenizer ends with ByteLevel.
                result.append(word.text.map { ByteLevel.byte(of: $0)! })
            }
        }
        return result
    }
}
