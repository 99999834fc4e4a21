/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny, fast generator whose output depends only on the seed,
/// on every machine and Swift version. Used for seeded shuffles and to seed larger generators.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0 ..< bound` (Lemire's multiply-and-reject, so unbiased). We do not use the
    /// standard library's `random(in:using:)`: its algorithm may change between Swift versions.
    public mutating func next(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        return Int(SplitMix64.below(UInt64(bound)) { self.next() })
    }

    /// Lemire's nearly-divisionless bounded integer, over any source of 64-bit words.
    public static func below(_ bound: UInt64, _ next: () -> UInt64) -> UInt64 {
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return product.high
    }
}
