/// What a `BinaryHeap` orders: the element that precedes every other comes out first.
protocol HeapOrdered {
    func precedes(_ other: Self) -> Bool
}

/// A binary heap, the one both BPE's merge loop (a min-heap of merge candidates) and the merge learner (a
/// max-heap of pair counts) use; the order is the elements' `precedes`.
struct BinaryHeap<Element: HeapOrdered> {
    private var entries: [Element] = []

    var isEmpty: Bool { entries.isEmpty }

    mutating func push(_ entry: Element) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard let first = entries.first else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < entries.count else { break }
                var first = left
                if left + 1 < entries.count && entries[left + 1].precedes(entries[left]) { first = left + 1 }
                guard entries[first].precedes(entries[parent]) else { break }
                entries.swapAt(first, parent)
                parent = first
            }
        }
        return first
    }
}
