import Tensor
import Datasets

/// xoshiro256** (Blackman and Vigna, 2018), seeded through SplitMix64: the generator behind every random
/// choice in ShapesWorld. All helpers below use only integer arithmetic and exactly rounded IEEE operations,
/// so a seed gives the same scenes on every machine and Swift version (the standard library's
/// `random(in:using:)` is avoided because its algorithm is not specified).
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    /// The state is the first four outputs of `SplitMix64(seed:)`, as the authors recommend.
    public init(seed: UInt64) {
        var seeder = SplitMix64(seed: seed)
        s0 = seeder.next()
        s1 = seeder.next()
        s2 = seeder.next()
        s3 = seeder.next()
    }

    /// A generator with the given raw state (not all zero), for reference tests.
    init(state: (UInt64, UInt64, UInt64, UInt64)) {
        precondition(state != (0, 0, 0, 0), "xoshiro256** needs a non-zero state")
        (s0, s1, s2, s3) = state
    }

    public mutating func next() -> UInt64 {
        let result = rotated(s1 &* 5, 7) &* 9
        let shifted = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= shifted
        s3 = rotated(s3, 45)
        return result
    }

    private func rotated(_ value: UInt64, _ amount: UInt64) -> UInt64 {
        (value << amount) | (value >> (64 - amount))
    }

    /// Uniform in `0 ..< bound` (unbiased).
    public mutating func int(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        return Int(SplitMix64.below(UInt64(bound)) { self.next() })
    }

    /// Uniform in `range`.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + int(below: range.upperBound - range.lowerBound + 1)
    }

    /// Uniform in [0, 1), with 53 random bits.
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in [lower, upper).
    public mutating func double(_ lower: Double, _ upper: Double) -> Double {
        lower + (upper - lower) * unit()
    }

    /// True with probability `probability`.
    public mutating func chance(_ probability: Double) -> Bool {
        unit() < probability
    }

    /// One element, uniformly.
    public mutating func pick<Element>(_ elements: [Element]) -> Element {
        elements[int(below: elements.count)]
    }

    /// A uniformly shuffled copy (Fisher–Yates).
    public mutating func shuffled<Element>(_ elements: [Element]) -> [Element] {
        var result = elements
        var index = result.count - 1
        while index > 0 {
            result.swapAt(index, int(below: index + 1))
            index -= 1
        }
        return result
    }

    /// `count` distinct elements in random order.
    public mutating func sample<Element>(_ elements: [Element], count: Int) -> [Element] {
        precondition(count <= elements.count, "cannot draw \(count) distinct elements from \(elements.count)")
        return Array(shuffled(elements).prefix(count))
    }
}

/// Stable 64-bit hashes for deriving per-item seeds (Swift's `Hasher` is randomly seeded per process).
enum StableHash {
    /// FNV-1a over the UTF-8 bytes.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// The seed of item `index` of `family` in the world with seed `world`: SplitMix64 steps over the three,
    /// so neighbouring indices and worlds give unrelated streams.
    static func itemSeed(world: UInt64, family: String, index: Int) -> UInt64 {
        var first = SplitMix64(seed: world ^ fnv1a(family))
        var second = SplitMix64(seed: first.next() &+ UInt64(bitPattern: Int64(index)) &* 0xD1B5_4A32_D192_ED03)
        return second.next()
    }
}
