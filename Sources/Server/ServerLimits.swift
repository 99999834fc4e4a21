import Imaging

/// Request limits, each enforced with a clear 4xx.
public struct ServerLimits: Sendable {
    public var maxBodyBytes = 64 << 20
    public var image = ImageLimits(maxWidth: 4096, maxHeight: 4096, maxPixels: 16_000_000)
    public var maxQuestionCharacters = 1000
    public var maxAnswerTokens = 64
    public var maxTopLogprobs = 20
    public var maxItemsPerPush = 20_000
    public var maxJSONDepth = 32
    public var maxTaskNameCharacters = 64

    public init() {}
}
