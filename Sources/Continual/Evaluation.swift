import Datasets
import Foundation
import LLaVA
import Tensor

/// Exact-match evaluation of a snapshot on labelled items.
public enum Evaluation {
    public enum Routing: Sendable {
        /// Always answer with this task's weights.
        case task(String)
        /// Let the selector route; `expected` is the task the items belong to (for selector accuracy).
        case automatic(expected: String?)
    }

    public struct Prediction: Sendable {
        public var question: String
        public var expected: String
        public var answer: String
        public var correct: Bool
        public var routedTask: String
    }

    public struct Report: Sendable {
        public var items: Int
        public var correct: Int
        public var accuracy: Double { items == 0 ? 0 : Double(correct) / Double(items) }
        /// Fraction routed to the expected task (automatic routing with an expected task only).
        public var selectorAccuracy: Double?
        public var predictions: [Prediction]
    }

    /// `shouldStop`, asked between rounds of items, cancels the evaluation (it throws `CancellationError`).
    public static func evaluate(snapshot: Snapshot, items: [LabeledItem], routing: Routing, maxNewTokens: Int = 8,
                                progress: (@Sendable (Int, Int) -> Void)? = nil, shouldStop: (() -> Bool)? = nil) throws -> Report {
        let results = ParallelResults<Prediction>(count: items.count)
        let forced: String? = if case let .task(name) = routing { name } else { nil }
        // Items go through the snapshot's batched answer a chunk at a time, one chunk per core on
        // single-threaded BLAS: items on two-threaded BLAS at once oversubscribe the cores (1,000 items of
        // `mneme eval`: 32 s against 12 s). Beside a server's queries (a pause handler is installed) the BLAS
        // threads are the process's and stay as they are (changing them under a running product is not safe):
        // a round is one small chunk on this thread, with a pause before each.
        let beside = TrainingYield.isInstalledOnCurrentThread
        let size = beside ? 4 : 16
        let chunks = stride(from: 0, to: items.count, by: size).map { $0 ..< min(items.count, $0 + size) }
        let perRound = beside ? 1 : max(1, chunks.count)
        let answer: @Sendable (Range<Int>) -> Void = { range in
            let routed = snapshot.answer(range.map { Snapshot.Query(image: items[$0].image, question: items[$0].question, task: forced,
                                                                     maxNewTokens: maxNewTokens) })
            for (index, result) in zip(range, routed) {
                let item = items[index]
                results.set(index, result.map { routed in
                    Prediction(question: item.question, expected: item.answer, answer: routed.answer.text,
                               correct: AnswerMatch.matches(routed.answer.text, item.answer), routedTask: routed.task)
                })
            }
            progress?(results.completed, items.count)
        }
        for first in stride(from: 0, to: chunks.count, by: perRound) {
            TrainingYield.point()
            if shouldStop?() == true { throw CancellationError() }
            let round = Array(chunks[first ..< min(chunks.count, first + perRound)])
            if beside {
                round.forEach(answer)
            } else {
                BLAS.withThreads(1) { DispatchQueue.concurrentPerform(iterations: round.count) { answer(round[$0]) } }
            }
        }
        let predictions = try results.values()
        var selectorAccuracy: Double?
        if case let .automatic(expected?) = routing, !predictions.isEmpty {
            selectorAccuracy = Double(predictions.filter { $0.routedTask == expected }.count) / Double(predictions.count)
        }
        return Report(items: predictions.count, correct: predictions.filter(\.correct).count,
                      selectorAccuracy: selectorAccuracy, predictions: predictions)
    }
}
