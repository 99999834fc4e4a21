import Dispatch
import Imaging

/// One generated item: the rendered image, the question and answer, the family name and the scene it shows.
public struct ShapesSample: Sendable {
    public var image: RGBImage
    public var question: String
    public var answer: String
    /// The `QuestionFamily` raw value.
    public var family: String
    public var scene: Scene
    /// Where pretraining's supervised attention heads should look: the objects the question names and the
    /// words that name them. Empty for questions about the whole scene.
    public var lookups: Lookups
}

/// A deterministic, seeded generator of multi-task VQA items (docs/DESIGN.md §5).
///
/// Item `index` of a family is a pure function of `(seed, family name, index, imageSize)`: it has its own
/// xoshiro256** stream seeded from those, so items can be drawn in any order, in parallel, or on the fly
/// during training, and the same arguments give byte-identical pixels on every machine. Indices from
/// `heldOutStart` on are reserved for held-out items, so a training stream that counts up from 0 never
/// meets them.
///
/// ```swift
/// let world = ShapesWorld(seed: 7)
/// let train = world.generate(family: .colour, count: 100)                              // indices 0..<100
/// let eval = world.generate(family: .colour, count: 50, start: ShapesWorld.heldOutStart)
/// let mixed = world.mixedSample(families: ShapesWorld.baseFamilies, index: step * batch + i)
/// ```
public struct ShapesWorld: Sendable {
    public let seed: UInt64
    public let style: ShapesStyle

    /// The ten families the default model is pretrained on.
    public static let baseFamilies: [QuestionFamily] = QuestionFamily.baseFamilies
    /// The eight continual-learning tasks, in benchmark order; pretraining never sees them.
    public static let continualSequence: [QuestionFamily] = QuestionFamily.continualSequence
    /// First index of the held-out range (2⁴⁰).
    public static let heldOutStart = 1 << 40

    public init(seed: UInt64, imageSize: Int = 64) {
        self.init(seed: seed, style: ShapesStyle(imageSize: imageSize))
    }

    public init(seed: UInt64, style: ShapesStyle) {
        self.seed = seed
        self.style = style
    }

    public var imageSize: Int { style.imageSize }

    /// Item `index` of `family` without rendering: the scene, question and answer.
    public func question(_ family: QuestionFamily, index: Int) -> (scene: Scene, question: String, answer: String) {
        let item = composed(family, index: index)
        return (item.scene, item.question, item.answer)
    }

    private func composed(_ family: QuestionFamily, index: Int) -> (scene: Scene, question: String, answer: String, lookups: Lookups) {
        var random = Xoshiro256(seed: StableHash.itemSeed(world: seed, family: family.rawValue, index: index))
        // A draw fails only when random placement found no room; redraw from the same stream.
        for _ in 0 ..< 1000 {
            var composer = SceneComposer(style: style, random: random)
            if let (question, answer) = family.compose(&composer) {
                return (composer.scene, question, answer, composer.lookups)
            }
            random = composer.random
        }
        preconditionFailure("\(family.rawValue): no scene fits a \(imageSize)-pixel image")
    }

    /// Item `index` of `family`, rendered.
    public func sample(_ family: QuestionFamily, index: Int) -> ShapesSample {
        let item = composed(family, index: index)
        return ShapesSample(image: SceneRenderer.render(item.scene), question: item.question, answer: item.answer,
                            family: family.rawValue, scene: item.scene, lookups: item.lookups)
    }

    /// Items `start ..< start + count` of `family`, generated in parallel.
    public func generate(family: QuestionFamily, count: Int, start: Int = 0) -> [ShapesSample] {
        parallelMap(count) { sample(family, index: start + $0) }
    }

    /// Item `index` of a round-robin mix: family `families[index % n]`, its item `index / n`. Consecutive
    /// indices cycle through the families, so any batch of `n` consecutive items is balanced.
    public func mixedSample(families: [QuestionFamily], index: Int) -> ShapesSample {
        precondition(!families.isEmpty, "no families to mix")
        return sample(families[index % families.count], index: index / families.count)
    }

    /// Items `start ..< start + count` of the round-robin mix, generated in parallel.
    public func generateMixed(families: [QuestionFamily], count: Int, start: Int = 0) -> [ShapesSample] {
        parallelMap(count) { mixedSample(families: families, index: start + $0) }
    }

    /// Item `index` of a weighted mix: its family is drawn with probability proportional to `weights`
    /// (one per family) from a stream seeded by the index, and the item is that family's item `index`, so
    /// a stream that counts up never repeats a scene, whatever the weights.
    public func weightedSample(families: [QuestionFamily], weights: [Double], index: Int) -> ShapesSample {
        precondition(!families.isEmpty && weights.count == families.count, "one weight per family")
        let total = weights.reduce(0) { $0 + max($1, 0) }
        precondition(total > 0, "no family has a positive weight")
        var random = Xoshiro256(seed: StableHash.itemSeed(world: seed, family: "mix", index: index))
        var threshold = random.double(0, total)
        for (family, weight) in zip(families, weights) where weight > 0 {
            threshold -= weight
            if threshold < 0 { return sample(family, index: index) }
        }
        return sample(families[weights.lastIndex { $0 > 0 }!], index: index)
    }

    /// Items `start ..< start + count` of the weighted mix, generated in parallel.
    public func generateWeighted(families: [QuestionFamily], weights: [Double], count: Int, start: Int = 0) -> [ShapesSample] {
        parallelMap(count) { weightedSample(families: families, weights: weights, index: start + $0) }
    }
}

/// `(0 ..< count).map(transform)` over all cores; results keep their positions, so output is deterministic.
func parallelMap<Result: Sendable>(_ count: Int, _ transform: @Sendable (Int) -> Result) -> [Result] {
    guard count > 16 else { return (0 ..< count).map(transform) }
    let results = UnsafeMutableBufferPointer<Result?>.allocate(capacity: count)
    results.initialize(repeating: nil)
    defer { results.deallocate() }
    let shared = UncheckedSendable(results)
    let chunk = 16
    DispatchQueue.concurrentPerform(iterations: (count + chunk - 1) / chunk) { block in
        for index in block * chunk ..< min(count, (block + 1) * chunk) { shared.value[index] = transform(index) }
    }
    return results.map { $0! }
}

/// Hands a buffer to concurrent workers that each write disjoint positions.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
