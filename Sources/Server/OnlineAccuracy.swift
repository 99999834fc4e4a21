import Foundation
import Store

/// How a snapshot does in use, per task: the answers it gave since the server started, the answers users
/// judged (`POST /v1/feedback`), the share judged right and its 95% Wilson interval.
enum OnlineAccuracy {
    struct Cell: Equatable {
        var answers = 0
        var feedback = 0
        var correct = 0
    }

    /// Cells by snapshot, then task.
    static func cells(feedback: [FeedbackRecord], answered: [String: [String: Int]]) -> [String: [String: Cell]] {
        var cells: [String: [String: Cell]] = [:]
        for (snapshot, tasks) in answered {
            for (task, count) in tasks { cells[snapshot, default: [:]][task, default: Cell()].answers = count }
        }
        for record in feedback {
            cells[record.snapshot, default: [:]][record.task, default: Cell()].feedback += 1
            if record.correct { cells[record.snapshot, default: [:]][record.task, default: Cell()].correct += 1 }
        }
        return cells
    }

    /// The Wilson score interval of `correct` out of `n` at `z` (1.96: 95%); (0, 1) with nothing judged.
    static func wilson(correct: Int, of n: Int, z: Double = 1.96) -> (low: Double, high: Double) {
        guard n > 0 else { return (0, 1) }
        let p = Double(correct) / Double(n), count = Double(n)
        let centre = (p + z * z / (2 * count)) / (1 + z * z / count)
        let half = z * ((p * (1 - p) / count + z * z / (4 * count * count)).squareRoot()) / (1 + z * z / count)
        return (max(0, centre - half), min(1, centre + half))
    }

    static func json(_ tasks: [String: Cell]) -> [String: Any] {
        tasks.mapValues { cell in
            var body: [String: Any] = ["answers": cell.answers, "feedback": cell.feedback, "correct": cell.correct]
            if cell.feedback > 0 {
                let interval = wilson(correct: cell.correct, of: cell.feedback)
                body["accuracy"] = Double(cell.correct) / Double(cell.feedback)
                body["low"] = interval.low
                body["high"] = interval.high
            }
            return body
        }
    }
}
