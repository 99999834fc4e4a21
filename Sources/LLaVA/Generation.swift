import Foundation
import Tensor

/// One candidate token with its log-probability.
public struct TokenLogprob: Sendable, Codable, Equatable {
    public var tokenId: Int
    public var logprob: Float
    enum CodingKeys: String, CodingKey { case tokenId = "token_id", logprob }
}

/// The result of greedy decoding.
public struct Generation: Sendable {
    /// Generated ids, the end-of-sequence token excluded.
    public var tokenIds: [Int]
    /// Per generated token (EOS included when it ended the answer), the `k` most likely tokens.
    public var topLogprobs: [[TokenLogprob]]
    public var prefillMilliseconds: Double
    public var decodeMilliseconds: Double
    /// Logits of the last prompt position (the first prediction), for verification.
    public var firstLogits: [Float]
}

public enum Greedy {
    /// Greedy decoding from prompt embeddings until an end-of-sequence id or `maxNewTokens`.
    public static func generate(model: LlavaModel, promptEmbeddings: Tensor, maxNewTokens: Int, stopIds: Set<Int>,
                                topK: Int = 0) throws -> Generation {
        let promptLength = promptEmbeddings.rows
        let limit = model.rope.maxPositions
        guard promptLength + maxNewTokens <= limit || promptLength < limit else {
            throw LlavaError.promptTooLong(tokens: promptLength, limit: limit)
        }
        let cache = model.makeCache(capacity: min(promptLength + maxNewTokens, limit))
        let clock = ContinuousClock()
        var start = clock.now
        let hidden = model.decode(embeddings: promptEmbeddings, segments: [.init(cache: cache, rows: 0 ..< promptLength)])
        var logits = model.logits(hidden: hidden.slice(promptLength - 1 ..< promptLength))
        let prefill = start.duration(to: clock.now)
        let firstLogits = logits.toArray()
        start = clock.now
        var generated: [Int] = []
        var top: [[TokenLogprob]] = []
        while true {
            let next = argmax(logits)
            if topK > 0 { top.append(topLogprobs(logits, k: topK)) }
            if stopIds.contains(next) { break }
            generated.append(next)
            if generated.count >= maxNewTokens || cache.length >= cache.capacity { break }
            let embedding = Tensor(zeros: [1, model.config.textConfig.hiddenSize])
            Embedding.forward(out: embedding, table: model.text.embedTokens, ids: [next])
            let h = model.decode(embeddings: embedding, segments: [.init(cache: cache, rows: 0 ..< 1)])
            logits = model.logits(hidden: h)
        }
        return Generation(tokenIds: generated, topLogprobs: top, prefillMilliseconds: prefill.milliseconds,
                          decodeMilliseconds: start.duration(to: clock.now).milliseconds, firstLogits: firstLogits)
    }

    /// Index of the largest value; the first on ties, as torch.argmax.
    static func argmax(_ logits: Tensor) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0 ..< logits.count where logits.data[i] > bestValue {
            best = i
            bestValue = logits.data[i]
        }
        return best
    }

    public static func topLogprobs(_ logits: Tensor, k: Int) -> [TokenLogprob] {
        let logProbabilities = Tensor(zeros: logits.shape)
        Softmax.logSoftmax(out: logProbabilities, logits: logits)
        let values = logProbabilities.toArray()
        return values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
            .prefix(k).map { TokenLogprob(tokenId: $0, logprob: values[$0]) }
    }

}
