import Imaging

/// Request limits, each enforced with a clear 4xx (`ItemRules` checks the ones on questions, answers and images).
public struct ServerLimits: Sendable {
    public var maxBodyBytes = 64 << 20
    public var image = ImageLimits(maxWidth: 4096, maxHeight: 4096, maxPixels: 16_000_000)
    /// A question's UTF-8 bytes, checked before it is tokenized; its tokens must also fit the model (`ItemRules`).
    public var maxQuestionBytes = 4096
    /// A pushed answer's UTF-8 bytes; its tokens must also fit `maxAnswerTokens`.
    public var maxAnswerBytes = 1024
    /// The longest answer: `max_new_tokens` of a query, a pushed answer's tokens; every question leaves room for it.
    public var maxAnswerTokens = 64
    public var maxTopLogprobs = 20
    public var maxItemsPerPush = 20_000
    /// Pixels of all a push's images together (from their headers), so validating a push is bounded work.
    public var maxPushPixels = 400_000_000
    public var maxJSONDepth = 32
    public var maxTaskNameCharacters = 64

    public init() {}
}
