import Foundation
import Imaging
import LLaVA
import Tensor
import Tokenizer

/// One labelled question about an image, as the tuner receives it.
public struct LabeledItem: Sendable {
    public var image: RGBImage
    public var question: String
    public var answer: String
    /// Per-patch labels for pretraining's patch heads (`TrainingExample.patchLabels`), when the data has them.
    public var patchLabels: [[Int]]?
    /// Patches the question names, per supervised attention head (`TrainingExample.attentionTargets`).
    public var attentionTargets: [[Int]]?
    /// Per supervised attention head, a word of the question it should look at instead (nil: none).
    public var attentionWords: [String?]?

    public init(image: RGBImage, question: String, answer: String, patchLabels: [[Int]]? = nil, attentionTargets: [[Int]]? = nil,
                attentionWords: [String?]? = nil) {
        self.image = image
        self.question = question
        self.answer = answer
        self.patchLabels = patchLabels
        self.attentionTargets = attentionTargets
        self.attentionWords = attentionWords
    }
}

/// An item turned into model inputs once: token ids, the image input, and the selector's features.
public struct PreparedExample: Sendable {
    public var item: LabeledItem
    public var example: TrainingExample
    /// Frozen base-model features for the task selector.
    public var imageFeature: [Float]
    public var textFeature: [Float]
}

/// Turns items into training examples for a given base pipeline.
public struct ExampleBuilder: Sendable {
    public enum VisionInput: Sendable {
        /// Pixels: the tower runs every step (full training).
        case pixels
        /// Cached projected features: tower and projector frozen (adapter tuning).
        case cachedFeatures
    }

    public let pipeline: LlavaPipeline
    public let vision: VisionInput

    public init(pipeline: LlavaPipeline, vision: VisionInput) {
        self.pipeline = pipeline
        self.vision = vision
    }

    /// Answer ids as the model must generate them after the prompt: " answer" then end-of-sequence.
    public func answerIds(_ answer: String) -> [Int] {
        let eos = pipeline.tokenizer.eosTokenId ?? pipeline.model.config.textConfig.eosTokenIds.first ?? 0
        return pipeline.tokenizer.encode(" " + answer, addSpecialTokens: false) + [eos]
    }

    /// The answer's ids, when prompt and answer fit the model's positions together: an item that does not is
    /// refused with a reason instead of reaching the decoder.
    func trainableAnswerIds(_ answer: String, promptLength: Int) throws -> [Int] {
        let ids = answerIds(answer)
        let limit = pipeline.model.rope.maxPositions
        guard promptLength + ids.count <= limit else { throw LlavaError.promptTooLong(tokens: promptLength + ids.count, limit: limit) }
        return ids
    }

    /// Just the training example (no selector features): what pretraining needs for fresh items every step.
    public func trainingExample(_ item: LabeledItem) throws -> TrainingExample {
        let pixels = pipeline.pixels(of: item.image)
        let image: TrainingExample.Image = vision == .pixels ? .pixels(pixels) : .features(try pipeline.model.imageFeatures(pixels: pixels))
        let promptIds = try pipeline.promptIds(question: item.question)
        let answerIds = try trainableAnswerIds(item.answer, promptLength: promptIds.count)
        return TrainingExample(image: image, promptIds: promptIds, answerIds: answerIds,
                               patchLabels: vision == .pixels ? item.patchLabels : nil, attentionTargets: attentionTargets(of: item, promptIds: promptIds))
    }

    /// The item's attention targets with each word slot as the prompt position of the word's last token,
    /// written −1 − position (`TrainingExample.attentionTargets`); a word the prompt does not hold leaves its
    /// slot unsupervised.
    func attentionTargets(of item: LabeledItem, promptIds: [Int]) -> [[Int]]? {
        guard let words = item.attentionWords else { return item.attentionTargets }
        let patches = item.attentionTargets ?? []
        let question = DecodedQuestion(promptIds: promptIds, imageId: pipeline.model.config.imageTokenIndex, tokenizer: pipeline.tokenizer)
        return (0 ..< max(words.count, patches.count)).map { slot in
            if slot < words.count, let word = words[slot] {
                return question.position(of: word).map { [-1 - $0] } ?? []
            }
            return slot < patches.count ? patches[slot] : []
        }
    }

    public func prepare(_ item: LabeledItem) throws -> PreparedExample {
        let pixels = pipeline.pixels(of: item.image)
        let features = try pipeline.model.imageFeatures(pixels: pixels)
        let image: TrainingExample.Image = vision == .pixels ? .pixels(pixels) : .features(features)
        let promptIds = try pipeline.promptIds(question: item.question)
        let example = TrainingExample(image: image, promptIds: promptIds,
                                      answerIds: try trainableAnswerIds(item.answer, promptLength: promptIds.count))
        let questionIds = pipeline.tokenizer.encode(item.question, addSpecialTokens: false)
        return PreparedExample(item: item, example: example, imageFeature: SelectorFeatures.image(features),
                               textFeature: SelectorFeatures.text(embeddings: pipeline.model.text.embedTokens, ids: questionIds))
    }

    /// Prepares items on all cores, in order; reports progress as (done, total).
    public func prepare(_ items: [LabeledItem], progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> [PreparedExample] {
        let results = ParallelResults<PreparedExample>(count: items.count)
        let chunk = 32
        DispatchQueue.concurrentPerform(iterations: (items.count + chunk - 1) / chunk) { c in
            for index in c * chunk ..< min((c + 1) * chunk, items.count) {
                results.set(index, Result {
                    do { return try prepare(items[index]) } catch { throw ItemError(index: index, question: items[index].question, reason: error) }
                })
            }
            progress?(results.completed, items.count)
        }
        return try results.values()
    }
}

/// An item that cannot be made into a training example, with which one and why.
public struct ItemError: Error, CustomStringConvertible {
    public var index: Int
    public var question: String
    public var reason: any Error

    public var description: String {
        let shown = question.count > 60 ? String(question.prefix(60)) + "…" : question
        return "item \(index) (question \"\(shown)\") cannot be trained: \(reason)"
    }
}

/// Results filled in from concurrent work, in index order.
final class ParallelResults<Value>: @unchecked Sendable {
    private var slots: [Result<Value, Error>?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<Value, Error>) { lock.withLock { slots[index] = result } }

    var completed: Int { lock.withLock { slots.reduce(0) { $0 + ($1 == nil ? 0 : 1) } } }

    func values() throws -> [Value] { try slots.map { try $0!.get() } }
}

/// The question part of a prompt (the ids after the image) as text, to find which token ends a word. Found
/// in the decoded text because a word's ids alone differ from its ids in a sentence for tokenizers that
/// mark word starts (SentencePiece's "▁").
struct DecodedQuestion {
    let start: Int
    let ids: [Int]
    let text: String
    let tokenizer: Tokenizer

    init(promptIds: [Int], imageId: Int, tokenizer: Tokenizer) {
        start = (promptIds.lastIndex(of: imageId) ?? -1) + 1
        ids = Array(promptIds[start...])
        text = tokenizer.decode(ids, skipSpecialTokens: true)
        self.tokenizer = tokenizer
    }

    /// The prompt position of the token that completes `word`'s first whole-word occurrence, if any.
    func position(of word: String) -> Int? {
        var from = text.startIndex
        while let found = text.range(of: word, options: .caseInsensitive, range: from ..< text.endIndex) {
            let letterBefore = found.lowerBound > text.startIndex && text[text.index(before: found.lowerBound)].isLetter
            let letterAfter = found.upperBound < text.endIndex && text[found.upperBound].isLetter
            if !letterBefore && !letterAfter { return position(ending: text.distance(from: text.startIndex, to: found.upperBound)) }
            from = found.upperBound
        }
        return nil
    }

    /// The first token whose prefix decodes to at least `end` characters: a prefix's text only grows as
    /// tokens are added, so a binary search over the prefix length finds it.
    private func position(ending end: Int) -> Int? {
        var low = 1, high = ids.count
        guard high > 0, text.count >= end else { return nil }
        while low < high {
            let middle = (low + high) / 2
            if tokenizer.decode(Array(ids[..<middle]), skipSpecialTokens: true).count >= end { high = middle } else { low = middle + 1 }
        }
        return start + low - 1
    }
}
