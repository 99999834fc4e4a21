import ArgumentParser
import Foundation
import Imaging
import LLaVA

struct Ask: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Answer one question about one image.")

    @Option(help: "Model directory (Hugging Face LLaVA layout) or snapshot. Default: models/default.")
    var model: String?

    @Option(help: "Answer as this task (default: the task selector routes).")
    var task: String?

    @Option(help: "Image file (PNG or JPEG).")
    var image: String

    @Option(help: "The question.")
    var question: String

    @Option(help: "Answer length limit in tokens (default: the model's mneme.json, else 16).")
    var maxNewTokens: Int?

    @Option(help: "Also report the K most likely tokens at each step.")
    var topLogprobs: Int = 0

    @Flag(help: "Print one JSON object instead of the answer text.")
    var json = false

    func validate() throws {
        if let maxNewTokens, maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1") }
        if topLogprobs < 0 { throw ValidationError("--top-logprobs must not be negative") }
        if question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw ValidationError("--question is empty") }
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let directory = try DefaultModel.resolve(model)
        let snapshot = try Snapshot.load(from: directory)
        let loaded = clock.now
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: image)) } catch {
            throw CommandError("cannot read image \(image): \(error.localizedDescription)")
        }
        let decoded = try ImageDecoder.decode(bytes)
        let decodedAt = clock.now
        let routed = try snapshot.answer(image: decoded, question: question, task: task, maxNewTokens: maxNewTokens,
                                         topLogprobs: topLogprobs)
        let answer = routed.answer
        guard json else {
            print(answer.text)
            return
        }
        var timings = answer.timings
        timings["load"] = Greedy.milliseconds(start.duration(to: loaded))
        timings["decode_image"] = Greedy.milliseconds(loaded.duration(to: decodedAt))
        timings["total"] = Greedy.milliseconds(start.duration(to: clock.now))
        try writeJSON([
            "answer": answer.text,
            "token_ids": answer.generation.tokenIds,
            "top_logprobs": answer.generation.topLogprobs.map { step in
                step.map { ["token_id": $0.tokenId, "logprob": Double($0.logprob)] as [String: Any] }
            },
            "timings_ms": timings,
            "task": routed.task,
            "task_confidence": Double(routed.confidence),
        ])
    }
}
