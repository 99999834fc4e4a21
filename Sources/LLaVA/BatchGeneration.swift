import Foundation
import Tensor

/// Greedy decoding of several prompts at once: one forward pass per step for all of them, so concurrent queries
/// share every matrix product (prefill rows are stacked; each decode step is one row per live sequence).
public enum BatchedGreedy {
    public struct Request: Sendable {
        public var promptEmbeddings: Tensor
        public var maxNewTokens: Int
        public var topK: Int
        /// Whether a stop token ends the answer (benchmarks decode a fixed number of tokens).
        public var stops: Bool

        public init(promptEmbeddings: Tensor, maxNewTokens: Int, topK: Int = 0, stops: Bool = true) {
            self.promptEmbeddings = promptEmbeddings
            self.maxNewTokens = maxNewTokens
            self.topK = topK
            self.stops = stops
        }
    }

    public static func generate(model: LlavaModel, requests: [Request], stopIds: Set<Int>) throws -> [Generation] {
        guard !requests.isEmpty else { return [] }
        let hidden = model.config.textConfig.hiddenSize
        let limit = model.rope.maxPositions
        for request in requests where request.promptEmbeddings.rows >= limit {
            throw LlavaError.promptTooLong(tokens: request.promptEmbeddings.rows, limit: limit)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let caches = requests.map { model.makeCache(capacity: min($0.promptEmbeddings.rows + $0.maxNewTokens, limit)) }
        // Prefill: every prompt in one pass.
        let totalRows = requests.reduce(0) { $0 + $1.promptEmbeddings.rows }
        let stacked = Tensor(zeros: [totalRows, hidden])
        var segments: [Llama.Segment] = []
        var row = 0
        for (index, request) in requests.enumerated() {
            let rows = row ..< row + request.promptEmbeddings.rows
            stacked.slice(rows).copy(from: request.promptEmbeddings)
            segments.append(.init(cache: caches[index], rows: rows))
            row = rows.upperBound
        }
        let prefillHidden = model.decode(embeddings: stacked, segments: segments)
        let lastRows = Tensor(zeros: [requests.count, hidden])
        for (index, segment) in segments.enumerated() {
            lastRows.slice(index ..< index + 1).copy(from: prefillHidden.slice(segment.rows.upperBound - 1 ..< segment.rows.upperBound))
        }
        var logits = model.logits(hidden: lastRows)
        let prefillDone = clock.now
        var results = requests.map { _ in
            Generation(tokenIds: [], topLogprobs: [], prefillMilliseconds: start.duration(to: prefillDone).milliseconds,
                       decodeMilliseconds: 0, firstLogits: [])
        }
        var live = Array(requests.indices)
        var first = true
        while !live.isEmpty {
            var next: [(request: Int, token: Int)] = []
            for (slot, index) in live.enumerated() {
                let row = logits.slice(slot ..< slot + 1)
                if first { results[index].firstLogits = row.toArray() }
                let token = Greedy.argmax(row)
                if requests[index].topK > 0 { results[index].topLogprobs.append(Greedy.topLogprobs(row, k: requests[index].topK)) }
                if requests[index].stops && stopIds.contains(token) { continue }
                results[index].tokenIds.append(token)
                if results[index].tokenIds.count >= requests[index].maxNewTokens || caches[index].length >= caches[index].capacity { continue }
                next.append((index, token))
            }
            first = false
            live = next.map(\.request)
            guard !live.isEmpty else { break }
            let embeddings = Tensor(zeros: [live.count, hidden])
            Embedding.forward(out: embeddings, table: model.text.embedTokens, ids: next.map(\.token))
            let steps = live.enumerated().map { Llama.Segment(cache: caches[$0.element], rows: $0.offset ..< $0.offset + 1) }
            logits = model.logits(hidden: model.decode(embeddings: embeddings, segments: steps))
        }
        let decode = prefillDone.duration(to: clock.now).milliseconds
        for index in results.indices { results[index].decodeMilliseconds = decode }
        return results
    }
}
