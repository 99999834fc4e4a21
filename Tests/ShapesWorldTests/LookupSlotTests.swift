import LLaVA
import ShapesWorld
import XCTest

/// ShapesWorld numbers the lookups, the LLaVA training code assigns them heads: the two lists must agree
/// in length and in layer, or a lookup would train a head of the wrong layer.
final class LookupSlotTests: XCTestCase {
    func testEveryLookupSlotHasAHeadOfItsLayer() {
        let heads = AttentionSupervision.defaultSlots
        XCTAssertEqual(heads.count, LookupSlot.allCases.count)
        for (slot, head) in zip(LookupSlot.allCases, heads) {
            XCTAssertEqual(head.layer, slot.layer, "\(slot) is a layer-\(slot.layer) lookup, trained on layer \(head.layer) head \(head.head)")
        }
        XCTAssertEqual(Set(heads.map { "\($0.layer).\($0.head)" }).count, heads.count, "two lookups share a head")
    }
}
