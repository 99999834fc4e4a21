import Continual
import Foundation
import HTTP
import Imaging
import LLaVA

/// What a question, an answer and an image may be, for a query and for a pushed item alike: the one place
/// these rules are checked, before anything is tokenized further, decoded or stored.
///
/// Text is measured as the model sees it. A question's UTF-8 bytes are checked first (that bounds the work of
/// tokenizing it: a grapheme cluster can hold any number of code points), then its prompt — template, image
/// tokens and question — must leave room for the longest answer (`ServerLimits.maxAnswerTokens`) within the
/// model's positions. So every question accepted here can be answered at the full answer length and trained
/// with any accepted answer.
struct ItemRules: Sendable {
    let limits: ServerLimits
    /// The base pipeline: every snapshot of a data directory shares its tokenizer and positions.
    let pipeline: LlavaPipeline

    var maxPositions: Int { pipeline.model.rope.maxPositions }

    /// The trimmed question, or the client's 4xx. `field` names it in messages (`question`, `items[3].question`).
    func question(_ raw: String, field: String = "question") throws -> String {
        let question = try trimmed(raw, field: field, maxBytes: limits.maxQuestionBytes, tooLong: "question_too_long", empty: "invalid_question")
        let promptTokens: Int
        do { promptTokens = try pipeline.promptIds(question: question).count } catch {
            throw HTTPError.badRequest("\(field): \(error)", code: "invalid_question")
        }
        guard promptTokens + limits.maxAnswerTokens <= maxPositions else {
            throw HTTPError.badRequest("\(field) is too long for the model: its prompt takes \(promptTokens) of the model's \(maxPositions) "
                                       + "positions and \(limits.maxAnswerTokens) must stay free for the answer", code: "question_too_long")
        }
        return question
    }

    /// A labelled answer, trimmed: bytes first, then its tokens (end of sequence included) against the answer length.
    func answer(_ raw: String, field: String = "answer") throws -> String {
        let answer = try trimmed(raw, field: field, maxBytes: limits.maxAnswerBytes, tooLong: "invalid_answer", empty: "invalid_answer")
        let tokens = ExampleBuilder(pipeline: pipeline, vision: .cachedFeatures).answerIds(answer).count
        guard tokens <= limits.maxAnswerTokens else {
            throw HTTPError.badRequest("\(field) is \(tokens) tokens with its end; the limit is \(limits.maxAnswerTokens)", code: "invalid_answer")
        }
        return answer
    }

    /// `raw` trimmed, its UTF-8 bytes checked first (before any work that grows with the text), not empty.
    private func trimmed(_ raw: String, field: String, maxBytes: Int, tooLong: String, empty: String) throws -> String {
        guard raw.utf8.count <= maxBytes else {
            throw HTTPError.badRequest("\(field) has \(raw.utf8.count) bytes of UTF-8; the limit is \(maxBytes)", code: tooLong)
        }
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw HTTPError.badRequest("\(field) is empty", code: empty) }
        return text
    }

    /// The image's size from its header, checked against the limits; nothing is decoded.
    func imagePixels(_ data: Data, field: String = "image") throws -> Int {
        guard !data.isEmpty else { throw HTTPError.badRequest("\(field) is empty", code: "invalid_image") }
        do {
            let size = try ImageDecoder.dimensions(of: data)
            try limits.image.check(width: size.width, height: size.height)
            return size.width * size.height
        } catch let error as ImageError {
            throw Self.httpError(error, field: field)
        }
    }

    /// Decodes with the limits checked from the header first; every failure is the client's, with a reason.
    func image(_ data: Data, field: String = "image") throws -> RGBImage {
        do {
            return try ImageDecoder.decode(data, limits: limits.image)
        } catch let error as ImageError {
            throw Self.httpError(error, field: field)
        }
    }

    private static func httpError(_ error: ImageError, field: String) -> HTTPError {
        if case .tooLarge = error { return HTTPError(.contentTooLarge, code: "image_too_large", message: "\(field): \(error.description)") }
        return HTTPError.badRequest("\(field): \(error.description)", code: "invalid_image")
    }
}
