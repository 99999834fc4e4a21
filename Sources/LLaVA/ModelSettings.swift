import Foundation
import ModelIO

/// `mneme.json` in a model directory (all fields optional).
public struct ModelSettings: Codable, Sendable, Equatable {
    /// The prompt around the question; `{question}` is replaced, `<image>` marks where the image goes.
    public var promptTemplate: String
    /// The text of the image marker in the template and tokenizer.
    public var imageToken: String
    /// Answer length limit when a request names none.
    public var maxAnswerTokens: Int

    public static let defaultTemplate = "USER: <image>\n{question} ASSISTANT:"

    enum CodingKeys: String, CodingKey {
        case promptTemplate = "prompt_template", imageToken = "image_token", maxAnswerTokens = "max_answer_tokens"
    }

    public init(promptTemplate: String = ModelSettings.defaultTemplate, imageToken: String = "<image>", maxAnswerTokens: Int = 16) {
        self.promptTemplate = promptTemplate
        self.imageToken = imageToken
        self.maxAnswerTokens = maxAnswerTokens
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ModelSettings()
        promptTemplate = try c.decodeIfPresent(String.self, forKey: .promptTemplate) ?? d.promptTemplate
        imageToken = try c.decodeIfPresent(String.self, forKey: .imageToken) ?? d.imageToken
        maxAnswerTokens = try c.decodeIfPresent(Int.self, forKey: .maxAnswerTokens) ?? d.maxAnswerTokens
    }

    public static func load(from directory: URL) throws -> ModelSettings {
        let url = directory.appendingPathComponent("mneme.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return ModelSettings() }
        do {
            return try JSONDecoder().decode(ModelSettings.self, from: Data(contentsOf: url))
        } catch {
            throw ModelIOError.malformedConfig(path: url.path, reason: "\(error)")
        }
    }
}
