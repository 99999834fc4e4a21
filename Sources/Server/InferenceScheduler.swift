import Foundation
import Imaging
import LLaVA
import Logging
import Tensor

/// Answers queries in batches on one worker thread: whatever is waiting when the worker comes round is
/// answered together — images through the vision tower in one pass, prompts of the same snapshot and task in
/// one prefill and one decode step per token — so concurrent clients share every matrix product.
final class InferenceScheduler: @unchecked Sendable {
    struct Query {
        let snapshot: Snapshot
        let image: RGBImage
        let question: String
        let task: String?
        let maxNewTokens: Int
        let topLogprobs: Int
        let enqueued: ContinuousClock.Instant
        let completion: @Sendable (Result<Snapshot.Routed, Error>) -> Void
    }

    private let condition = NSCondition()
    private var pending: [Query] = []
    private var stopped = false
    private let maxBatch: Int
    private let logger: Logger
    private var worker: Thread?
    /// Called with the batch size after every batch (metrics).
    var onBatch: (@Sendable (Int, Double) -> Void)?
    /// Turns on the cores with the tuner: no batch starts during the tuner's turn.
    let turns: CPUTurns

    init(maxBatch: Int = 16, turns: CPUTurns = CPUTurns(share: 0.35), logger: Logger) {
        self.maxBatch = maxBatch
        self.turns = turns
        self.logger = logger
    }

    func start() {
        let thread = Thread { [weak self] in self?.run() }
        thread.name = "mneme-inference"
        thread.qualityOfService = .userInteractive
        worker = thread
        thread.start()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    var queueDepth: Int { condition.lock(); defer { condition.unlock() }; return pending.count }

    func answer(snapshot: Snapshot, image: RGBImage, question: String, task: String?, maxNewTokens: Int,
                topLogprobs: Int) async throws -> Snapshot.Routed {
        try await withCheckedThrowingContinuation { continuation in
            let query = Query(snapshot: snapshot, image: image, question: question, task: task, maxNewTokens: maxNewTokens,
                              topLogprobs: topLogprobs, enqueued: .now) { continuation.resume(with: $0) }
            condition.lock()
            if stopped {
                condition.unlock()
                continuation.resume(throwing: CancellationError())
                return
            }
            // Counted before the worker can take it: counted after, a query answered at once would leave the
            // count one too high and the tuner waiting for a query that is gone.
            turns.arrived()
            pending.append(query)
            condition.signal()
            condition.unlock()
        }
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopped { condition.wait() }
            if stopped && pending.isEmpty {
                condition.unlock()
                return
            }
            condition.unlock()
            // During the tuner's turn the queries wait; more of them may join the batch meanwhile.
            turns.beginBatch()
            condition.lock()
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            condition.unlock()
            turns.started(batch.count)
            let start = ContinuousClock.now
            process(batch)
            let took = start.duration(to: .now)
            turns.endBatch(took)
            onBatch?(batch.count, took.milliseconds)
        }
    }

    /// Groups by snapshot (shared vision pass), then by routed task (shared decoder weights).
    private func process(_ batch: [Query]) {
        var bySnapshot: [ObjectIdentifier: [Query]] = [:]
        var order: [ObjectIdentifier] = []
        for query in batch {
            let key = ObjectIdentifier(query.snapshot)
            if bySnapshot[key] == nil { order.append(key) }
            bySnapshot[key, default: []].append(query)
        }
        for key in order { answer(bySnapshot[key]!) }
    }

    private func answer(_ queries: [Query]) {
        let snapshot = queries[0].snapshot
        let base = snapshot.base
        let clock = ContinuousClock()
        let visionStart = clock.now
        let pixels = queries.map { base.pixels(of: $0.image) }
        let features: [Tensor]
        do {
            features = try base.model.imageFeatures(batch: pixels)
        } catch {
            for query in queries { query.completion(.failure(error)) }
            return
        }
        let vision = visionStart.duration(to: clock.now).milliseconds
        // Route each query, then decode each task's group in one batch.
        var groups: [Int: [(query: Query, ids: [Int], embeddings: Tensor, confidence: Float)]] = [:]
        for (query, feature) in zip(queries, features) {
            do {
                let (task, confidence) = try snapshot.route(features: feature, question: query.question, forced: query.task)
                let (ids, embeddings) = try snapshot.promptEmbeddings(question: query.question, features: feature, task: task)
                groups[task, default: []].append((query, ids, embeddings, confidence))
            } catch {
                query.completion(.failure(error))
            }
        }
        for (task, members) in groups.sorted(by: { $0.key < $1.key }) {
            let model = snapshot.model(forTask: task)
            do {
                let generations = try BatchedGreedy.generate(
                    model: model,
                    requests: members.map { .init(promptEmbeddings: $0.embeddings, maxNewTokens: $0.query.maxNewTokens, topK: $0.query.topLogprobs) },
                    stopIds: base.stopIds)
                for (member, generation) in zip(members, generations) {
                    let text = base.tokenizer.decode(generation.tokenIds, skipSpecialTokens: true)
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                    let answer = Answer(text: text, promptIds: member.ids, generation: generation,
                                        timings: ["queue": member.query.enqueued.duration(to: visionStart).milliseconds,
                                                  "vision": vision, "prefill": generation.prefillMilliseconds,
                                                  "decode": generation.decodeMilliseconds])
                    member.query.completion(.success(Snapshot.Routed(answer: answer, task: snapshot.tasks[task], taskId: task,
                                                                     confidence: member.confidence)))
                }
            } catch {
                for member in members { member.query.completion(.failure(error)) }
            }
        }
    }
}
