import ArgumentParser
import Continual
import Foundation
import LLaVA

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Exact-match accuracy of a model or snapshot on a dataset.")

    @Option(help: "Model directory or snapshot. Default: models/default.")
    var model: String?

    @Option(help: "Dataset folder.")
    var data: String

    @Option(help: "A task name to force, or auto (the selector routes; with --expect it also reports selector accuracy).")
    var task: String = "auto"

    @Option(help: "The task the items belong to, for selector accuracy under --task auto.")
    var expect: String?

    @Option(help: "Answer length limit.")
    var maxNewTokens: Int = 8

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: "Also write every item's question, expected and given answer to this JSONL file, in dataset order.")
    var predictions: String?

    @OptionGroup(title: "Engine") var engine: EngineOptions

    func run() throws {
        engine.apply()
        let snapshot = try Snapshot.load(from: DefaultModel.resolve(model), serving: true)
        let items = try DatasetLoading.items(at: data)
        let routing: Evaluation.Routing = task == "auto" ? .automatic(expected: expect) : .task(task)
        if case let .task(name) = routing, snapshot.taskId(named: name) == nil {
            throw CommandError("unknown task \(name); the model knows \(snapshot.tasks.joined(separator: ", "))")
        }
        let bar = ProgressBar("evaluating")
        let result = try Evaluation.evaluate(snapshot: snapshot, items: items, routing: routing, maxNewTokens: maxNewTokens) { bar.update($0, $1) }
        bar.update(result.items, result.items, force: true)
        if let predictions { try writePredictions(result.predictions, to: predictions) }
        if json {
            var object: [String: Any] = ["accuracy": result.accuracy, "items": result.items, "correct": result.correct, "task": task]
            if let selector = result.selectorAccuracy { object["selector_accuracy"] = selector }
            var routed: [String: Int] = [:]
            for prediction in result.predictions { routed[prediction.routedTask, default: 0] += 1 }
            object["routed"] = routed
            try writeJSON(object)
        } else {
            print(String(format: "accuracy %.4f (%d/%d)", result.accuracy, result.correct, result.items))
            if let selector = result.selectorAccuracy { print(String(format: "selector accuracy %.4f", selector)) }
        }
    }

    private func writePredictions(_ predictions: [Evaluation.Prediction], to path: String) throws {
        var lines = ""
        for prediction in predictions {
            let object: [String: Any] = ["question": prediction.question, "expected": prediction.expected, "answer": prediction.answer,
                                         "correct": prediction.correct, "task": prediction.routedTask]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            lines += String(decoding: data, as: UTF8.self) + "\n"
        }
        try lines.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
