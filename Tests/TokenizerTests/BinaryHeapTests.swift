import XCTest
@testable import Tokenizer

/// The one heap of the tokenizer: what `precedes` says comes out first, whatever the order of the pushes.
final class BinaryHeapTests: XCTestCase {
    private struct Smaller: HeapOrdered { var value: Int; func precedes(_ other: Smaller) -> Bool { value < other.value } }
    private struct Larger: HeapOrdered { var value: Int; func precedes(_ other: Larger) -> Bool { value > other.value } }

    func testPopsInTheOrderOfPrecedes() {
        var generator = SystemRandomNumberGenerator()
        let values = (0 ..< 200).map { _ in Int.random(in: -50 ... 50, using: &generator) }
        var minimum = BinaryHeap<Smaller>(), maximum = BinaryHeap<Larger>()
        for value in values {
            minimum.push(Smaller(value: value))
            maximum.push(Larger(value: value))
        }
        var ascending: [Int] = [], descending: [Int] = []
        while let next = minimum.pop() { ascending.append(next.value) }
        while let next = maximum.pop() { descending.append(next.value) }
        XCTAssertEqual(ascending, values.sorted())
        XCTAssertEqual(descending, values.sorted(by: >))
        XCTAssertTrue(minimum.isEmpty)
    }
}
