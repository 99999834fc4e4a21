/// Byte-pair encoding: a word starts as one symbol per character and the ranked merges are applied, lowest
/// rank first, until none applies.
///
/// The merge loop uses a min-heap of candidate pairs keyed by (rank, position) over a doubly linked list of
/// symbols, as the library does, so a word of n characters costs O(n log n) and ties between equal ranks go
/// to the leftmost pair. Unknown characters fall back to `<0xXX>` byte tokens when `byte_fallback` is set,
/// else to the unknown token (consecutive ones fused into one with `fuse_unk`), else are dropped.
struct BPEModel: TokenizerModel {
    let vocabulary: Vocabulary
    /// (left id, right id) packed into 64 bits → (rank, merged id).
    private let merges: [UInt64: Merge]
    private let unknownToken: String?
    private let continuingSubwordPrefix: [UInt8]?
    private let endOfWordSuffix: [UInt8]?
    private let fuseUnknown: Bool
    private let byteFallback: Bool
    private let ignoreMerges: Bool
    /// Ids of the "<0x00>" … "<0xFF>" tokens, where present.
    private let byteTokenIds: [Int?]

    struct Merge {
        var rank: Int32
        var id: Int32
    }

    init(_ config: ComponentConfig) throws {
        vocabulary = try Vocabulary(json: config.json["vocab"], component: config.path)
        unknownToken = try config.optionalString("unk_token")
        continuingSubwordPrefix = try config.optionalString("continuing_subword_prefix").map { Array($0.utf8) }
        endOfWordSuffix = try config.optionalString("end_of_word_suffix").map { Array($0.utf8) }
        fuseUnknown = try config.bool("fuse_unk", default: false)
        byteFallback = try config.bool("byte_fallback", default: false)
        ignoreMerges = try config.bool("ignore_merges", default: false)
        if let dropout = config.json["dropout"], !dropout.isNull, case .number(let p) = dropout, p != 0 {
            // Dropout is a training-time randomisation; inference tokenizers ship without it.
            throw TokenizerError.unsupported(component: "\(config.path).dropout", type: "\(p)")
        }

        // Merges are ["a b", …] (older files) or [["a", "b"], …].
        guard let list = config.json["merges"]?.array else { throw config.missing("merges", "an array") }
        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(list.count)
        let prefixLength = continuingSubwordPrefix?.count ?? 0
        for (rank, entry) in list.enumerated() {
            let left: String
            let right: String
            if let pair = entry.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                (left, right) = (a, b)
            } else if let line = entry.string {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw TokenizerError.malformed("\(config.path).merges[\(rank)] is not \"a b\"") }
                (left, right) = (String(parts[0]), String(parts[1]))
            } else {
                throw TokenizerError.malformed("\(config.path).merges[\(rank)] should be a pair of strings")
            }
            let leftBytes = Array(left.utf8)
            let rightBytes = Array(right.utf8)
            guard let leftId = vocabulary.id(of: leftBytes) else {
                throw TokenizerError.unknownToken(component: "\(config.path).merges", token: left)
            }
            guard let rightId = vocabulary.id(of: rightBytes) else {
                throw TokenizerError.unknownToken(component: "\(config.path).merges", token: right)
            }
            // The merged token drops the right side's continuing-subword prefix.
            let merged = leftBytes + rightBytes.dropFirst(min(prefixLength, rightBytes.count))
            guard let mergedId = vocabulary.id(of: merged) else {
                throw TokenizerError.unknownToken(component: "\(config.path).merges",
                                                  token: String(decoding: merged, as: UTF8.self))
            }
            merges[Self.key(leftId, rightId)] = Merge(rank: Int32(rank), id: Int32(mergedId))
        }
        self.merges = merges

        let vocabulary = self.vocabulary
        byteTokenIds = (0..<256).map { byte in
            vocabulary.id(of: Array(Self.byteTokenName(UInt8(byte)).utf8))
        }
    }

    /// "<0x0A>": the library's `format!("<{:#04X}>", byte)`.
    static func byteTokenName(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "<0x\(digits[Int(byte >> 4)])\(digits[Int(byte & 0xF)])>"
    }

    private static func key(_ left: Int, _ right: Int) -> UInt64 {
        UInt64(UInt32(truncatingIfNeeded: left)) << 32 | UInt64(UInt32(truncatingIfNeeded: right))
    }

    func tokenize(_ word: Scalars, into ids: inout [Int]) {
        if ignoreMerges, let id = vocabulary.id(of: word.utf8Bytes) {
            ids.append(id)
            return
        }
        var symbols = initialSymbols(word)
        if symbols.count > 1 { mergeAll(&symbols) }
        ids.append(contentsOf: symbols)
    }

    /// One symbol per character (with the subword prefix/suffix where configured), or its fallbacks.
    private func initialSymbols(_ word: Scalars) -> [Int] {
        var symbols: [Int] = []
        symbols.reserveCapacity(word.count)
        let plain = continuingSubwordPrefix == nil && endOfWordSuffix == nil
        var pendingUnknown: Int?  // the unknown token waiting to be emitted (fused over a run)
        for (index, scalar) in word.enumerated() {
            var id: Int?
            var bytes: [UInt8] = []
            if plain {
                id = vocabulary.idOfScalar[scalar.value]
            }
            if id == nil {
                if index > 0, let prefix = continuingSubwordPrefix { bytes.append(contentsOf: prefix) }
                bytes.append(contentsOf: UTF8.encode(scalar)!)
                if index == word.count - 1, let suffix = endOfWordSuffix { bytes.append(contentsOf: suffix) }
                if !plain { id = vocabulary.id(of: bytes) }
            }
            if let id {
                if let unknown = pendingUnknown {
                    symbols.append(unknown)
                    pendingUnknown = nil
                }
                symbols.append(id)
                continue
            }
            // As in the library, byte tokens go out without flushing a pending unknown token first.
            if byteFallback {
                let fallback = bytes.compactMap { byteTokenIds[Int($0)] }
                if fallback.count == bytes.count {
                    symbols.append(contentsOf: fallback)
                    continue
                }
            }
            guard let unknownToken, let unknownId = vocabulary.id(of: unknownToken) else { continue }
            if let unknown = pendingUnknown, !fuseUnknown {
                symbols.append(unknown)
            }
            pendingUnknown = unknownId
        }
        if let unknown = pendingUnknown { symbols.append(unknown) }
        return symbols
    }

    /// Applies merges in rank order (leftmost first among equal ranks) until none applies.
    private func mergeAll(_ symbols: inout [Int]) {
        let count = symbols.count
        var next = [Int](0..<count).map { $0 + 1 }  // == count: no next
        var previous = [Int](0..<count).map { $0 - 1 }  // -1: no previous
        var alive = [Bool](repeating: true, count: count)
        var heap = MergeHeap()
        for position in 0..<(count - 1) {
            if let merge = merges[Self.key(symbols[position], symbols[position + 1])] {
                heap.push(MergeCandidate(rank: merge.rank, position: Int32(position), id: merge.id))
            }
        }
        while let top = heap.pop() {
            let position = Int(top.position)
            guard alive[position], next[position] < count else { continue }
            let right = next[position]
            // Skip entries made stale by earlier merges.
            guard let merge = merges[Self.key(symbols[position], symbols[right])], merge.id == top.id else { continue }
            symbols[position] = Int(merge.id)
            alive[right] = false
            next[position] = next[right]
            if next[right] < count { previous[next[right]] = position }
            if previous[position] >= 0 {
                let left = previous[position]
                if let candidate = merges[Self.key(symbols[left], symbols[position])] {
                    heap.push(MergeCandidate(rank: candidate.rank, position: Int32(left), id: candidate.id))
                }
            }
            if next[position] < count {
                if let candidate = merges[Self.key(symbols[position], symbols[next[position]])] {
                    heap.push(MergeCandidate(rank: candidate.rank, position: Int32(position), id: candidate.id))
                }
            }
        }
        var merged: [Int] = []
        merged.reserveCapacity(count)
        for index in 0..<count where alive[index] { merged.append(symbols[index]) }
        symbols = merged
    }
}

/// The merge loop's candidates, earliest (rank, position) first.
typealias MergeHeap = BinaryHeap<MergeCandidate>

/// A merge candidate: the pair starting at `position`, merged by rule `rank` into token `id`.
struct MergeCandidate: HeapOrdered {
    var rank: Int32
    var position: Int32
    var id: Int32

    func precedes(_ other: MergeCandidate) -> Bool {
        rank != other.rank ? rank < other.rank : position < other.position
    }
}
