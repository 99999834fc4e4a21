/// The merge loop of BPE training: given counted words already cut into initial symbols, repeatedly merges
/// the most frequent adjacent pair into a new token until the vocabulary is full or no pair is frequent
/// enough.
///
/// It runs the same algorithm as the `tokenizers` library's `BpeTrainer`, so that both learn the same
/// merges from the same words (the reference fixtures check this):
///
/// - the next merge is the pair with the highest count; ties go to the smaller pair of ids (left id, then
///   right id) — ids number tokens in the order they were created, so among equally frequent pairs the one
///   built from older tokens wins. Nothing depends on hash order, so the result is the same on every run;
/// - pair counts are kept up to date incrementally: merging a pair inside a word only touches its
///   neighbours, so each merge costs time proportional to the words that contain the pair, not the corpus;
/// - candidates sit in a max-heap with the words where they were seen; an entry whose count went stale is
///   put back with the current count when it reaches the top (lazy update);
/// - a merge whose result is already a token (the same string reached by another pair) reuses that id and
///   does not grow the vocabulary; should a pair be merged twice, only its last rank is kept.
struct MergeLearner {
    /// A learned merge: the pair of token ids and the id of the token it makes.
    struct Merge: Equatable {
        var left: Int32
        var right: Int32
        var result: Int32
    }

    /// Token keys (any bytes that identify a token: the trainer uses the UTF-8 of the token string) in id
    /// order. A merged token's key is the concatenation of its parts' keys.
    private(set) var tokens: [[UInt8]]
    private var idOfToken: [[UInt8]: Int32] = [:]
    /// Each distinct word as its current symbols, and how often it occurs.
    private var words: [[Int32]]
    private let counts: [Int]

    private var pairCounts: [UInt64: Int] = [:]
    private var queue = PairQueue()
    private(set) var merges: [Merge] = []

    /// - Parameters:
    ///   - tokens: the initial vocabulary (special tokens, then the alphabet), keys in id order, distinct.
    ///   - words: each distinct word as ids into `tokens`.
    ///   - counts: each word's number of occurrences.
    init(tokens: [[UInt8]], words: [[Int32]], counts: [Int]) {
        precondition(words.count == counts.count, "MergeLearner: one count per word")
        self.tokens = tokens
        for (id, token) in tokens.enumerated() {
            precondition(idOfToken[token] == nil, "MergeLearner: duplicate initial token")
            idOfToken[token] = Int32(id)
        }
        self.words = words
        self.counts = counts
        countInitialPairs()
    }

    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    private static func parts(of key: UInt64) -> (Int32, Int32) {
        (Int32(bitPattern: UInt32(truncatingIfNeeded: key >> 32)), Int32(bitPattern: UInt32(truncatingIfNeeded: key)))
    }

    private mutating func countInitialPairs() {
        // Pairs in order of first appearance, each with the (ascending, distinct) words holding it.
        var order: [UInt64] = []
        var wordsOfPair: [UInt64: [Int32]] = [:]
        for (index, symbols) in words.enumerated() where symbols.count > 1 {
            let count = counts[index]
            for position in 0..<(symbols.count - 1) {
                let pair = Self.key(symbols[position], symbols[position + 1])
                pairCounts[pair, default: 0] += count
                if wordsOfPair[pair] == nil { order.append(pair) }
                if wordsOfPair[pair, default: []].last != Int32(index) {
                    wordsOfPair[pair, default: []].append(Int32(index))
                }
            }
        }
        for pair in order {
            let count = pairCounts[pair]!
            if count > 0 { queue.push(count: count, pair: pair, words: wordsOfPair[pair]!) }
        }
    }

    /// Learns merges until there are `vocabularySize` tokens or the best pair occurs fewer than
    /// `minimumFrequency` times (at least once in any case).
    mutating func run(vocabularySize: Int, minimumFrequency: Int) {
        while tokens.count < vocabularySize, let top = queue.pop() {
            let current = pairCounts[top.pair] ?? 0
            if top.count != current {
                queue.push(count: current, pair: top.pair, words: top.words)
                continue
            }
            if top.count < 1 || top.count < minimumFrequency { break }

            let (left, right) = Self.parts(of: top.pair)
            let merged = tokens[Int(left)] + tokens[Int(right)]
            let result: Int32
            if let existing = idOfToken[merged] {
                result = existing
            } else {
                result = Int32(tokens.count)
                tokens.append(merged)
                idOfToken[merged] = result
            }
            merges.append(Merge(left: left, right: right, result: result))
            apply(left: left, right: right, result: result, in: top.words)
        }
    }

    /// Merges (left, right) in the given words, updates the pair counts, and queues every pair that gained
    /// occurrences with the words where it did.
    private mutating func apply(left: Int32, right: Int32, result: Int32, in wordIndices: [Int32]) {
        var order: [UInt64] = []
        var gained: [UInt64: [Int32]] = [:]
        var merged: [Int32] = []
        for wordIndex in wordIndices {
            let index = Int(wordIndex)
            let symbols = words[index]
            guard symbols.count > 1 else { continue }
            let count = counts[index]
            func change(_ a: Int32, _ b: Int32, _ delta: Int) {
                let pair = Self.key(a, b)
                pairCounts[pair, default: 0] += delta * count
                guard delta > 0 else { return }
                if gained[pair] == nil { order.append(pair) }
                if gained[pair, default: []].last != wordIndex { gained[pair, default: []].append(wordIndex) }
            }
            // Left to right, non-overlapping: "aaa" with (a, a) becomes "aa a". Each merge loses the pairs
            // it had with its neighbours and gains the same pairs with the new token.
            merged.removeAll(keepingCapacity: true)
            var position = 0
            var changed = false
            while position < symbols.count {
                if symbols[position] == left && position + 1 < symbols.count && symbols[position + 1] == right {
                    changed = true
                    if let previous = merged.last {
                        change(previous, left, -1)
                        change(previous, result, 1)
                    }
                    merged.append(result)
                    position += 2
                    if position < symbols.count {
                        change(right, symbols[position], -1)
                        change(result, symbols[position], 1)
                    }
                } else {
                    merged.append(symbols[position])
                    position += 1
                }
            }
            if changed { words[index] = merged }
        }
        for pair in order {
            let count = pairCounts[pair]!
            if count > 0 { queue.push(count: count, pair: pair, words: gained[pair]!) }
        }
    }

    /// The merges in rank order; a pair merged more than once keeps only its last rank, as the library's
    /// model (a map from pair to rank) does when it is saved.
    var rankedMerges: [Merge] {
        var lastRank: [UInt64: Int] = [:]
        for (rank, merge) in merges.enumerated() { lastRank[Self.key(merge.left, merge.right)] = rank }
        return merges.enumerated().compactMap { rank, merge in
            lastRank[Self.key(merge.left, merge.right)] == rank ? merge : nil
        }
    }
}

/// A max-heap of candidate pairs ordered by count, then by the smaller pair (left id, then right id). Each
/// entry carries the words to look in; those lists live beside the heap so that sifting moves small values.
private struct PairQueue {
    private struct Entry: HeapOrdered {
        var count: Int
        var pair: UInt64
        var slot: Int32

        func precedes(_ other: Entry) -> Bool {
            count != other.count ? count > other.count : pair < other.pair
        }
    }

    private var heap = BinaryHeap<Entry>()
    private var wordLists: [[Int32]] = []
    private var freeSlots: [Int32] = []

    mutating func push(count: Int, pair: UInt64, words: [Int32]) {
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            wordLists[Int(slot)] = words
        } else {
            slot = Int32(wordLists.count)
            wordLists.append(words)
        }
        heap.push(Entry(count: count, pair: pair, slot: slot))
    }

    mutating func pop() -> (count: Int, pair: UInt64, words: [Int32])? {
        guard let first = heap.pop() else { return nil }
        let words = wordLists[Int(first.slot)]
        wordLists[Int(first.slot)] = []
        freeSlots.append(first.slot)
        return (first.count, first.pair, words)
    }
}
