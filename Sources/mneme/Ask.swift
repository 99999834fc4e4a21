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

    @Option(help: "Ask a running server (its active snapshot, or --snapshot) instead of loading a model here; http:// is assumed without a scheme.")
    var server: String?

    @Option(help: "With --server: the snapshot to answer (default: the active one).")
    var snapshot: String?

    func validate() throws {
        if let maxNewTokens, maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1") }
        if topLogprobs < 0 { throw ValidationError("--top-logprobs must not be negative") }
        if topLogprobs > 0 && !json { throw ValidationError("--top-logprobs needs --json (the log-probabilities are in the JSON)") }
        if question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw ValidationError("--question is empty") }
    }

    @OptionGroup(title: "Engine") var engine: EngineOptions

    func run() throws {
        if let server { return try askServer(server) }
        engine.apply()
        let clock = ContinuousClock()
        let start = clock.now
        let directory = try DefaultModel.resolve(model)
        let snapshot = try Snapshot.load(from: directory, serving: true)
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
        timings["load"] = start.duration(to: loaded).milliseconds
        timings["decode_image"] = loaded.duration(to: decodedAt).milliseconds
        timings["total"] = start.duration(to: clock.now).milliseconds
        try writeJSON([
            "answer": answer.text,
            "token_ids": answer.generation.tokenIds,
            "top_logprobs": answer.generation.topLogprobs.map { step in
                step.map { ["token_id": $0.tokenId, "token": snapshot.base.tokenizer.decode([$0.tokenId], skipSpecialTokens: false),
                            "logprob": Double($0.logprob)] as [String: Any] }
            },
            "timings_ms": timings,
            "task": routed.task,
            "task_confidence": Double(routed.confidence),
        ])
    }

    /// The same question to a running server, as multipart: the server's answer, task and snapshot.
    private func askServer(_ address: String) throws {
        let options = try ServerOptions.parse(["--server", address])
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: image)) } catch {
            throw CommandError("cannot read image \(image): \(error.localizedDescription)")
        }
        var form = MultipartBody()
        form.field("question", question)
        if let task { form.field("task", task) }
        if let snapshot { form.field("snapshot", snapshot) }
        if let maxNewTokens { form.field("max_new_tokens", String(maxNewTokens)) }
        if topLogprobs > 0 { form.field("top_logprobs", String(topLogprobs)) }
        form.file("image", filename: URL(fileURLWithPath: image).lastPathComponent, data: bytes)
        let result = try options.client().send("POST", "/v1/answer", body: form.finished(), contentType: form.contentType)
        guard json else {
            print(result["answer"] as? String ?? "")
            return
        }
        try options.print(result)
    }
}
