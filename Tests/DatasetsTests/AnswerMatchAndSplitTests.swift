import Tensor
import XCTest
@testable import Datasets

final class AnswerMatchTests: XCTestCase {
    func testNormalisation() {
        let cases: [(String, String)] = [
            ("  Red   Circle. ", "red circle"), ("YES!", "yes"), ("3", "3"), ("no ?!", "no"), ("top\tleft\n", "top left"),
            ("3.5", "3.5"), ("a, b;", "a, b"), ("...", ""), ("", ""), ("Étoile:", "étoile"), ("top-left.", "top-left"),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(AnswerMatch.normalize(text), expected, "normalize(\(text.debugDescription))")
        }
        XCTAssertTrue(AnswerMatch.matches("Blue.", "blue"))
        XCTAssertTrue(AnswerMatch.matches(" 12 ", "12"))
        XCTAssertFalse(AnswerMatch.matches("blue circle", "blue"))
        XCTAssertFalse(AnswerMatch.matches("12", "1 2"))
        XCTAssertFalse(AnswerMatch.matches("no", "not"))
    }
}

final class SplitTests: XCTestCase {
    func testSizesFollowTheRule() {
        // (count, fraction, minimum) -> expected held-out size, worked out by hand from the documented rule.
        let cases: [(Int, Double, Int, Int)] = [
            (1000, 0.1, 50, 100), (200, 0.1, 50, 50), (30, 0.1, 50, 15), (1, 0.1, 50, 0), (0, 0.1, 50, 0),
            (105, 0.1, 0, 11), (10, 1.0, 0, 10), (10, 0, 3, 3),
        ]
        for (count, fraction, minimum, expected) in cases {
            let split = Dataset.split(count: count, evalFraction: fraction, minimumEval: minimum, seed: 1)
            XCTAssertEqual(split.eval.count, expected, "count \(count), fraction \(fraction), minimum \(minimum)")
            XCTAssertEqual(Set(split.train).union(split.eval), Set(0 ..< count))
            XCTAssertTrue(Set(split.train).isDisjoint(with: split.eval))
            XCTAssertEqual(split.train, split.train.sorted())
            XCTAssertEqual(split.eval, split.eval.sorted())
        }
    }

    func testDeterministicAndSeeded() {
        let a = Dataset.split(count: 500, evalFraction: 0.1, minimumEval: 50, seed: 42)
        let b = Dataset.split(count: 500, evalFraction: 0.1, minimumEval: 50, seed: 42)
        let c = Dataset.split(count: 500, evalFraction: 0.1, minimumEval: 50, seed: 43)
        XCTAssertEqual(a.eval, b.eval)
        XCTAssertNotEqual(a.eval, c.eval)
        // Not simply the first or last items.
        XCTAssertNotEqual(a.eval, Array(0 ..< 50))
        XCTAssertNotEqual(a.eval, Array(450 ..< 500))
    }

    func testSplitMix64MatchesTheReferenceSequence() {
        // First outputs for seed 1234567 of the reference C implementation (Vigna, splitmix64.c).
        var generator = SplitMix64(seed: 1_234_567)
        XCTAssertEqual((0 ..< 5).map { _ in generator.next() },
                       [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
                        4_593_380_528_125_082_431, 16_408_922_859_458_223_821])
    }

    func testBoundedIntegersAreUniformEnough() {
        var generator = SplitMix64(seed: 9)
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0 ..< 60_000 { counts[generator.next(below: 6)] += 1 }
        XCTAssertTrue(counts.allSatisfy { abs($0 - 10_000) < 400 }, "\(counts)")
    }
}
