import Foundation
import Tensor

/// Picks a task from the input alone: each task has an image key and a text key, and the task whose keys are
/// most similar (cosine) to the query's frozen-model features wins. Task 0 is the base model.
///
/// Features: the image's mean projected feature and the question's mean token embedding, both from the frozen
/// base model (`SelectorFeatures`). Keys are trained with the alignment loss Σ (1 − cos(e, k)) (DESIGN §3).
///
/// A task may hold several prototypes (key tensors of shape (prototypes, dimension), image row p paired with
/// text row p) and scores as its best one: the base model covers ten unlike families, and one mean key for
/// all of them sits closer to a new task's key than to many of its own questions.
public final class TaskSelector: @unchecked Sendable {
    public private(set) var names: [String] = []
    public private(set) var imageKeys: [Tensor] = []
    public private(set) var textKeys: [Tensor] = []
    public let imageDimension: Int
    public let textDimension: Int

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

    /// Adds a task whose keys start at the mean direction of the given features.
    @discardableResult
    public func addTask(name: String, images: [[Float]], texts: [[Float]]) -> Int {
        names.append(name)
        imageKeys.append(Tensor(shape: [imageDimension], values: Self.meanDirection(images, dimension: imageDimension)))
        textKeys.append(Tensor(shape: [textDimension], values: Self.meanDirection(texts, dimension: textDimension)))
        return names.count - 1
    }

    /// Adds a task with one prototype per group of features (e.g. per base family).
    @discardableResult
    public func addTask(name: String, groups: [(images: [[Float]], texts: [[Float]])]) -> Int {
        addTask(name: name, imageKey: groups.flatMap { Self.meanDirection($0.images, dimension: imageDimension) },
                textKey: groups.flatMap { Self.meanDirection($0.texts, dimension: textDimension) })
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
            selector.addTask(name: "base", images: baseImages, texts: baseTexts)
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
        /// Half the gap between the best and the second-best score (0 … 2 scale halves to 0 … 1).
        public var confidence: Float
        public var scores: [Float]
    }

    /// The task whose keys best match the features (a task scores as its best prototype).
    public func select(image: [Float], text: [Float]) -> Choice? {
        guard !names.isEmpty else { return nil }
        let scores = names.indices.map { task in
            (0 ..< prototypeCount(task: task)).map { p in
                image.withUnsafeBufferPointer { i in
                    Self.cosine(i.baseAddress!, imageKeys[task].data + p * imageDimension, count: imageDimension).cos
                } + text.withUnsafeBufferPointer { t in
                    Self.cosine(t.baseAddress!, textKeys[task].data + p * textDimension, count: textDimension).cos
                }
            }.max()!
        }
        let best = scores.indices.max { scores[$0] < scores[$1] }!
        let second = scores.indices.filter { $0 != best }.map { scores[$0] }.max() ?? -2
        return Choice(task: best, name: names[best], confidence: min(max((scores[best] - second) / 2, 0), 1), scores: scores)
    }

    /// Mean over the batch of (1 − cos(e_img, k_img)) + (1 − cos(e_txt, k_txt)) for `task`; adds ∂/∂keys into
    /// `gradients` when the keys are registered there.
    @discardableResult
    public func alignmentLoss(task: Int, images: [[Float]], texts: [[Float]], gradients: Gradients?) -> Float {
        precondition(prototypeCount(task: task) == 1, "alignment trains single-prototype keys (tuned tasks)")
        let weight = 1 / Float(max(images.count, 1))
        var total: Float = 0
        for e in images { total += Self.pull(imageKeys[task], towards: e, weight: weight, gradients: gradients) }
        for e in texts { total += Self.pull(textKeys[task], towards: e, weight: weight, gradients: gradients) }
        return total
    }

    /// weight · (1 − cos(key, e)), adding its gradient into the key's when the key is registered.
    public static func pull(_ key: Tensor, towards features: [Float], weight: Float, gradients: Gradients?) -> Float {
        let (cos, normE, normK) = features.withUnsafeBufferPointer { cosine($0.baseAddress!, key.data, count: key.count) }
        if let dKey = gradients?.of(key) {
            let inverseNorms = 1 / (normE * normK), keyScale = cos / (normK * normK)
            for i in 0 ..< key.count {
                let dCos: Float = features[i] * inverseNorms - keyScale * key.data[i]
                dKey.data[i] -= weight * dCos
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
