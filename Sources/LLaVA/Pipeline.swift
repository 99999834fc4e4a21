import Foundation
import Imaging
import ModelIO
import Tensor
import Tokenizer

/// Everything needed to answer a question about an image: model, tokenizer, image preprocessing, prompt settings.
public struct LlavaPipeline: Sendable {
    public var model: LlavaModel
    public let tokenizer: Tokenizer
    public let preprocessor: CLIPImagePreprocessor
    public let settings: ModelSettings
    /// The task selector's keys for the base model itself (task 0), when the model ships them: one or more
    /// prototypes, rows flattened.
    var baseKeys: (image: [Float], text: [Float])?

    public init(model: LlavaModel, tokenizer: Tokenizer, preprocessor: CLIPImagePreprocessor, settings: ModelSettings) {
        self.model = model
        self.tokenizer = tokenizer
        self.preprocessor = preprocessor
        self.settings = settings
    }

    static let baseKeysFile = "base_keys.safetensors"

    /// Loads a Hugging Face LLaVA directory: config.json, safetensors, tokenizer.json, preprocessor_config.json, mneme.json.
    public static func load(from directory: URL) throws -> LlavaPipeline {
        let model = try LlavaModel.load(from: directory)
        let tokenizer = try Tokenizer(contentsOf: directory.appendingPathComponent("tokenizer.json"))
        let preprocessor = CLIPImagePreprocessor(config: try ImagePreprocessorConfig.load(from: directory))
        var pipeline = LlavaPipeline(model: model, tokenizer: tokenizer, preprocessor: preprocessor,
                                     settings: try ModelSettings.load(from: directory))
        let keys = directory.appendingPathComponent(baseKeysFile)
        if FileManager.default.fileExists(atPath: keys.path) {
            let file = try SafeTensorsFile(contentsOf: keys)
            pipeline.baseKeys = (try file.tensor("image_key").toArray(), try file.tensor("text_key").toArray())
        }
        return pipeline
    }

    /// Writes the base model's selector keys next to its weights: (prototypes, dimension) each.
    public static func writeBaseKeys(image: Tensor, text: Tensor, to directory: URL) throws {
        try SafeTensorsWriter.write(["image_key": image, "text_key": text],
                                    to: directory.appendingPathComponent(baseKeysFile), metadata: ["format": "mneme"])
    }

    /// Token ids of the prompt for `question`, with the image marker expanded to one id per image feature.
    public func promptIds(question: String) throws -> [Int] {
        let text = settings.promptTemplate.replacingOccurrences(of: "{question}", with: question)
        guard text.contains(settings.imageToken) else {
            throw LlavaError.missingImageToken("the prompt template has no \(settings.imageToken)")
        }
        let imageId = model.config.imageTokenIndex
        guard tokenizer.id(of: settings.imageToken) == imageId else {
            throw LlavaError.missingImageToken("the tokenizer maps \(settings.imageToken) to \(tokenizer.id(of: settings.imageToken).map(String.init) ?? "nothing"), the model expects \(imageId)")
        }
        let featureCount = model.config.imageFeatureCount
        return tokenizer.encode(text).flatMap { $0 == imageId ? Array(repeating: imageId, count: featureCount) : [$0] }
    }

    /// The ids that end an answer: the model's and the tokenizer's end-of-sequence tokens.
    public var stopIds: Set<Int> {
        var ids = Set(model.config.textConfig.eosTokenIds)
        if let eos = tokenizer.eosTokenId { ids.insert(eos) }
        return ids
    }

    /// Preprocessed pixels (C, H, W) of an image.
    public func pixels(of image: RGBImage) -> Tensor {
        let values = preprocessor(image)
        return Tensor(shape: [3, preprocessor.outputHeight, preprocessor.outputWidth], values: values)
    }

    /// Answers one question about one image by greedy decoding, through the one answer recipe
    /// (`Snapshot.answer(_:)`) of a snapshot that is this model alone.
    public func answer(image: RGBImage, question: String, maxNewTokens: Int? = nil, topLogprobs: Int = 0) throws -> Answer {
        try Snapshot(base: self, adapters: nil, selector: nil, tasks: ["base"])
            .answer(image: image, question: question, maxNewTokens: maxNewTokens, topLogprobs: topLogprobs).answer
    }
}

/// An answer with what produced it.
public struct Answer: Sendable {
    public var text: String
    public var promptIds: [Int]
    public var generation: Generation
    public var timings: [String: Double]

    public init(text: String, promptIds: [Int], generation: Generation, timings: [String: Double]) {
        self.text = text
        self.promptIds = promptIds
        self.generation = generation
        self.timings = timings
    }
}
