import Foundation
import HTTP
import Imaging

/// A query as `/v1/answer` and `/v1/compare` accept it: JSON with a base64 image, or multipart with an image file.
struct QueryInput: Sendable {
    var image: RGBImage
    /// The image as it was sent (kept for feedback, `QueryLog`).
    var imageData: Data
    var question: String
    var snapshot: String?
    var snapshots: [String]?
    var task: String?
    var maxNewTokens: Int?
    var topLogprobs: Int

    private struct Body: Decodable {
        /// Absent ones are reported with the same codes as a multipart body's (`missing_image`, `missing_question`).
        var image: String?
        var question: String?
        var snapshot: String?
        var snapshots: [String]?
        var task: String?
        var max_new_tokens: Int?
        var top_logprobs: Int?
    }

    static func parse(_ request: HTTPRequest, rules: ItemRules) throws -> QueryInput {
        let limits = rules.limits
        let type = try request.requireContentType(["application/json", "multipart/form-data"])
        var imageData: Data
        var body: Body
        if type.essence == "multipart/form-data" {
            let form = try request.multipartFormData()
            guard let imagePart = form["image"] else { throw HTTPError.badRequest("multipart body has no image part", code: "missing_image") }
            guard let question = form["question"]?.text else {
                throw HTTPError.badRequest("multipart body has no question field", code: "missing_question")
            }
            imageData = imagePart.data
            func integer(_ name: String) throws -> Int? {
                guard let text = form[name]?.text else { return nil }
                guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                    throw HTTPError.badRequest("field \(name) must be an integer, got \(text.prefix(20))", code: "invalid_field")
                }
                return value
            }
            body = Body(image: nil, question: question, snapshot: form["snapshot"]?.text,
                        snapshots: form.parts(named: "snapshots").compactMap(\.text), task: form["task"]?.text,
                        max_new_tokens: try integer("max_new_tokens"), top_logprobs: try integer("top_logprobs"))
            if body.snapshots?.isEmpty == true { body.snapshots = nil }
        } else {
            body = try request.decodeJSON(Body.self, maxDepth: limits.maxJSONDepth)
            guard let encoded = body.image else { throw HTTPError.badRequest("JSON body has no image field", code: "missing_image") }
            guard body.question != nil else { throw HTTPError.badRequest("JSON body has no question field", code: "missing_question") }
            guard let decoded = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters) else {
                throw HTTPError.badRequest("image is not valid base64", code: "invalid_image")
            }
            imageData = decoded
        }
        let question = try rules.question(body.question ?? "")
        if let tokens = body.max_new_tokens, !(1 ... limits.maxAnswerTokens).contains(tokens) {
            throw HTTPError.badRequest("max_new_tokens must be between 1 and \(limits.maxAnswerTokens)", code: "invalid_field")
        }
        let top = body.top_logprobs ?? 0
        guard (0 ... limits.maxTopLogprobs).contains(top) else {
            throw HTTPError.badRequest("top_logprobs must be between 0 and \(limits.maxTopLogprobs)", code: "invalid_field")
        }
        return QueryInput(image: try rules.image(imageData), imageData: imageData, question: question, snapshot: body.snapshot,
                          snapshots: body.snapshots, task: body.task, maxNewTokens: body.max_new_tokens, topLogprobs: top)
    }
}
