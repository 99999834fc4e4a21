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
        let answer: @Sendable (Int) -> Void = { index in
            let item = items[index]
            results.set(index, Swift.Result {
                let routed = try snapshot.answer(image: item.image, question: item.question, task: forced, maxNewTokens: maxNewTokens)
                return Prediction(question: item.question, expected: item.answer, answer: routed.answer.text,
                                  correct: AnswerMatch.matches(routed.answer.text, item.answer), routedTask: routed.task)
            })
            if index % 16 == 0 { progress?(results.completed, items.count) }
        }
        // One item per core on single-threaded BLAS: items on two-threaded BLAS at once oversubscribe the
        // cores (1,000 items of `mneme eval`: 32 s against 12 s). Beside a server's queries (a pause handler is
        // installed) a few items at a time, pausing between them, so a query waits for one round at most.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let round = TrainingYield.isInstalledOnCurrentThread ? cores : items.count
        for start in stride(from: 0, to: items.count, by: max(1, round)) {
            TrainingYield.point()
            if shouldStop?() == true { throw CancellationError() }
            let end = min(items.count, start + round)
            BLAS.withThreads(1) { DispatchQueue.concurrentPerform(iterations: end - start) { answer(start + $0) } }
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
