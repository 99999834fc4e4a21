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

    /// One snapshot's share of a batch, through the snapshot's one answer recipe; the queue time is added here.
    private func answer(_ queries: [Query]) {
        let started = ContinuousClock.now
        let results = queries[0].snapshot.answer(queries.map {
            Snapshot.Query(image: $0.image, question: $0.question, task: $0.task, maxNewTokens: $0.maxNewTokens, topLogprobs: $0.topLogprobs)
        })
        for (query, result) in zip(queries, results) {
            query.completion(result.map { routed in
                var routed = routed
                routed.answer.timings["queue"] = query.enqueued.duration(to: started).milliseconds
                return routed
            })
        }
    }
}
