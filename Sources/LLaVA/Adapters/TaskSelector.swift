import Foundation
import Tensor

/// Picks a task from the input alone: each task has an image key and a text key, and the task whose keys are
/// most similar (cosine) to the query's frozen-model features wins. Task 0 is the base model.
///
/// Features: the image's mean projected feature and the question's mean token embedding, both from the frozen
/// base model (`SelectorFeatures`). Keys are trained with the alignment loss Σ (1 − cos(e, k)) (docs/DESIGN.md §3).
///
/// A task may hold several prototypes (key tensors of shape (prototypes, dimension), image row p paired with
/// text row p) and scores as its best one. One mean key over many phrasings is broad: a new task whose
/// questions differ from an old one's by a single word ("How many red objects …" against "How many objects …")
/// gets prototypes as tight as its phrasings and takes the old task's questions unless those have tight
/// prototypes too, so every task — the base model per family — gets several (`bench selector` measures this).
public final class TaskSelector: @unchecked Sendable {
    public private(set) var names: [String] = []
    public private(set) var imageKeys: [Tensor] = []
    public private(set) var textKeys: [Tensor] = []
    public let imageDimension: Int
    public let textDimension: Int

    /// Prototypes a tuned task gets, and the base model per family: about one per phrasing of a question.
    public static let prototypesPerTask = 8

    /// The image's share of a score (the question's is 1). The mean projected features of any two scenes point
    /// nearly the same way, so their cosine varies little between tasks and by as much within one; at equal
    /// weight that noise outvoted the question's words (base questions routed to the base model: 97% at equal
    /// weight, 99.9% at a quarter, with 8 prototypes each).
    public static let imageWeight: Float = 0.25

    public init(imageDimension: Int, textDimension: Int) {
        self.imageDimension = imageDimension
        self.textDimension = textDimension
    }

    public var taskCount: Int { names.count }

    public func copy() -> TaskSelector {
        let copy = TaskSelector(imageDimension: imageDimension, textDimension: textDimension)
        copy.restore(names: names, imageKeys: imageKeys.map { $0.copy() }, textKeys: textKeys.map { $0.copy() })
        return copy
    }

    /// Adds a task whose keys start at the mean direction of the given features; with `prototypes` > 1, one
    /// prototype per cluster of the items (spherical k-means on image and text features together).
    @discardableResult
    public func addTask(name: String, images: [[Float]], texts: [[Float]], prototypes: Int = 1) -> Int {
        addTask(name: name, groups: [(images, texts)], prototypesPerGroup: prototypes)
    }

    /// Spherical k-means: item indices per cluster (empty clusters dropped). Deterministic: the first centre is
    /// item 0, each next one the item farthest from the centres so far, then a few assignment rounds.
    static func clusters(images: [[Float]], texts: [[Float]], count: Int) -> [[Int]] {
        let items = images.count
        guard count > 1, items > count else { return [Array(0 ..< items)] }
        func normalised(_ v: [Float]) -> [Float] {
            let norm = max(v.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            return v.map { $0 / norm }
        }
        let points = (0 ..< items).map { normalised(images[$0]) + normalised(texts[$0]) }
        func similarity(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        /// The nearest centre of `point` and its similarity.
        func nearest(_ point: [Float], among centres: [[Float]]) -> (index: Int, similarity: Float) {
            centres.indices.map { ($0, similarity(point, centres[$0])) }.max { $0.1 < $1.1 }!
        }
        var centres = [points[0]]
        while centres.count < count {
            let closeness = points.map { nearest($0, among: centres).similarity }
            centres.append(points[closeness.indices.min { closeness[$0] < closeness[$1] }!])
        }
        var assignment = [Int](repeating: 0, count: items)
        for _ in 0 ..< 10 {
            assignment = points.map { nearest($0, among: centres).index }
            for c in centres.indices {
                let members = assignment.indices.filter { assignment[$0] == c }
                guard !members.isEmpty else { continue }
                var sum = [Float](repeating: 0, count: points[0].count)
                for m in members { for i in sum.indices { sum[i] += points[m][i] } }
                centres[c] = normalised(sum)  // a raw sum's length grows with its cluster and would swallow the rest
            }
        }
        return centres.indices.map { c in assignment.indices.filter { assignment[$0] == c } }.filter { !$0.isEmpty }
    }

    /// Adds a task with `prototypesPerGroup` prototypes per group of features (e.g. per base family), each
    /// group clustered on its own so that no family's prototypes are spent on another's.
    @discardableResult
    public func addTask(name: String, groups: [(images: [[Float]], texts: [[Float]])], prototypesPerGroup: Int = 1) -> Int {
        let clustered = groups.flatMap { group in
            Self.clusters(images: group.images, texts: group.texts, count: prototypesPerGroup).map { members in
                (images: members.map { group.images[$0] }, texts: members.map { group.texts[$0] })
            }
        }
        return addTask(name: name, imageKey: clustered.flatMap { Self.meanDirection($0.images, dimension: imageDimension) },
                       textKey: clustered.flatMap { Self.meanDirection($0.texts, dimension: textDimension) })
    }

    /// Adds a task with given keys (the base model's, shipped with it): one prototype, or several rows flattened.
    @discardableResult
    public func addTask(name: String, imageKey: [Float], textKey: [Float]) -> Int {
        let prototypes = imageKey.count / imageDimension
        precondition(prototypes >= 1 && imageKey.count == prototypes * imageDimension && textKey.count == prototypes * textDimension,
                     "keys of \(imageKey.count) and \(textKey.count) values are not whole prototypes of \(imageDimension) and \(textDimension)")
        names.append(name)
        imageKeys.append(Tensor(shape: prototypes == 1 ? [imageDimension] : [prototypes, imageDimension], values: imageKey))
        textKeys.append(Tensor(shape: prototypes == 1 ? [textDimension] : [prototypes, textDimension], values: textKey))
        return names.count - 1
    }

    /// How many prototypes task `task` has.
    public func prototypeCount(task: Int) -> Int { imageKeys[task].count / imageDimension }

    /// A selector whose only task is the base model, with keys from `base_keys.safetensors` when the model has them.
    public static func startingWithBase(pipeline: LlavaPipeline, baseImages: [[Float]], baseTexts: [[Float]]) -> TaskSelector {
        let hidden = pipeline.model.config.textConfig.hiddenSize
        let selector = TaskSelector(imageDimension: hidden, textDimension: hidden)
        if baseImages.isEmpty, let keys = pipeline.baseKeys {
            selector.addTask(name: "base", imageKey: keys.image, textKey: keys.text)
        } else {
            selector.addTask(name: "base", images: baseImages, texts: baseTexts, prototypes: prototypesPerTask)
        }
        return selector
    }

    public func restore(names: [String], imageKeys: [Tensor], textKeys: [Tensor]) {
        self.names = names
        self.imageKeys = imageKeys
        self.textKeys = textKeys
    }

    static func meanDirection(_ vectors: [[Float]], dimension: Int) -> [Float] {
        var sum = [Float](repeating: 0, count: dimension)
        for vector in vectors {
            let norm = max(vector.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            for i in 0 ..< dimension { sum[i] += vector[i] / norm }
        }
        if vectors.isEmpty { sum[0] = 1 }
        return sum
    }

    public static func cosine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> (cos: Float, normA: Float, normB: Float) {
        var dot: Float = 0, na: Float = 0, nb: Float = 0
        for i in 0 ..< count { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i] }
        let normA = max(na.squareRoot(), 1e-12), normB = max(nb.squareRoot(), 1e-12)
        return (dot / (normA * normB), normA, normB)
    }

    public struct Choice: Sendable {
        public var task: Int
        public var name: String
        /// The gap between the best and the second-best score over a perfect match's score (1 + imageWeight), at most 1.
        public var confidence: Float
        public var scores: [Float]
    }

    /// The task whose keys best match the features (a task scores as its best prototype).
    public func select(image: [Float], text: [Float]) -> Choice? {
        guard !names.isEmpty else { return nil }
        let scores = names.indices.map { bestPrototype(task: $0, image: image, text: text).score }
        let best = scores.indices.max { scores[$0] < scores[$1] }!
        let second = scores.indices.filter { $0 != best }.map { scores[$0] }.max() ?? -2
        return Choice(task: best, name: names[best], confidence: min(max((scores[best] - second) / (1 + Self.imageWeight), 0), 1), scores: scores)
    }

    /// Mean over the batch of (1 − cos(e_img, k_img)) + (1 − cos(e_txt, k_txt)) for `task`, each item against
    /// its nearest prototype; adds ∂/∂keys into `gradients` when the keys are registered there.
    @discardableResult
    public func alignmentLoss(task: Int, images: [[Float]], texts: [[Float]], gradients: Gradients?) -> Float {
        let weight = 1 / Float(max(images.count, 1))
        let dImage = gradients?.of(imageKeys[task]), dText = gradients?.of(textKeys[task])
        var total: Float = 0
        for (image, text) in zip(images, texts) {
            let p = bestPrototype(task: task, image: image, text: text).index
            total += Self.pull(imageKeys[task].data + p * imageDimension, dKey: dImage.map { $0.data + p * imageDimension },
                               count: imageDimension, towards: image, weight: weight)
            total += Self.pull(textKeys[task].data + p * textDimension, dKey: dText.map { $0.data + p * textDimension },
                               count: textDimension, towards: text, weight: weight)
        }
        return total
    }

    func score(task: Int, prototype p: Int, image: [Float], text: [Float]) -> Float {
        Self.imageWeight * image.withUnsafeBufferPointer { Self.cosine($0.baseAddress!, imageKeys[task].data + p * imageDimension, count: imageDimension).cos }
            + text.withUnsafeBufferPointer { Self.cosine($0.baseAddress!, textKeys[task].data + p * textDimension, count: textDimension).cos }
    }

    /// The prototype of `task` whose image and text keys together best match the features, and its score.
    func bestPrototype(task: Int, image: [Float], text: [Float]) -> (index: Int, score: Float) {
        (0 ..< prototypeCount(task: task)).map { ($0, score(task: task, prototype: $0, image: image, text: text)) }.max { $0.1 < $1.1 }!
    }

    /// weight · (1 − cos(key, e)) for a one-row key tensor, adding its gradient when the key is registered.
    public static func pull(_ key: Tensor, towards features: [Float], weight: Float, gradients: Gradients?) -> Float {
        pull(key.data, dKey: gradients?.of(key)?.data, count: key.count, towards: features, weight: weight)
    }

    /// weight · (1 − cos(key, e)) over the first `count` values, adding its gradient into `dKey` when given.
    static func pull(_ key: UnsafeMutablePointer<Float>, dKey: UnsafeMutablePointer<Float>?, count: Int, towards features: [Float],
                     weight: Float) -> Float {
        precondition(features.count >= count, "\(features.count) features for a key of \(count)")
        let (cos, normE, normK) = features.withUnsafeBufferPointer { cosine($0.baseAddress!, key, count: count) }
        if let dKey {
            let inverseNorms = 1 / (normE * normK), keyScale = cos / (normK * normK)
            for i in 0 ..< count {
                let dCos: Float = features[i] * inverseNorms - keyScale * key[i]
                dKey[i] -= weight * dCos
            }
        }
        return weight * (1 - cos)
    }

    public func trainableKeys(task: Int) -> [(String, Tensor)] {
        [("selector.image_key.\(task)", imageKeys[task]), ("selector.text_key.\(task)", textKeys[task])]
    }
}

/// The frozen-model features the task selector compares.
public enum SelectorFeatures {
    /// Mean of the image's projected features (n, hidden) → (hidden).
    public static func image(_ features: Tensor) -> [Float] {
        var mean = [Float](repeating: 0, count: features.columns)
        for row in 0 ..< features.rows {
            for i in 0 ..< features.columns { mean[i] += features.data[row * features.columns + i] }
        }
        return mean.map { $0 / Float(max(features.rows, 1)) }
    }

    /// Mean token embedding of the question's ids.
    public static func text(embeddings table: Tensor, ids: [Int]) -> [Float] {
        var mean = [Float](repeating: 0, count: table.columns)
        for id in ids where id >= 0 && id < table.rows {
            for i in 0 ..< table.columns { mean[i] += table.data[id * table.columns + i] }
        }
        return mean.map { $0 / Float(max(ids.count, 1)) }
    }
}
