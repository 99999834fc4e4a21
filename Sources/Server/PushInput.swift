import Foundation
import HTTP
import Imaging
import Store

/// A task push as `POST /v1/tasks` accepts it: JSON with base64 images, or multipart with a JSONL manifest part
/// naming one file part per image.
struct PushInput: Sendable {
    var name: String
    var items: [PushedItem]
    var strategy: String?
    var evalFraction: Double

    private struct Body: Decodable {
        struct Item: Decodable { var image: String; var question: String; var answer: String }
        var name: String
        var items: [Item]
        var strategy: String?
        var eval_fraction: Double?
    }

    private struct ManifestLine: Decodable { var image: String; var question: String; var answer: String }

    static func parse(_ request: HTTPRequest, rules: ItemRules, strategies: [String]) throws -> PushInput {
        let limits = rules.limits
        let type = try request.requireContentType(["application/json", "multipart/form-data"])
        var input: PushInput
        if type.essence == "multipart/form-data" {
            let form = try request.multipartFormData(limits: .init(maxParts: limits.maxItemsPerPush + 8))
            guard let name = form["name"]?.text else { throw HTTPError.badRequest("multipart push has no name field", code: "missing_name") }
            guard let manifest = form["manifest"]?.text else {
                throw HTTPError.badRequest("multipart push has no manifest part (JSONL lines naming the image parts)", code: "missing_manifest")
            }
            var items: [PushedItem] = []
            for (number, line) in manifest.split(whereSeparator: \.isNewline).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                let entry: ManifestLine
                do { entry = try JSONDecoder().decode(ManifestLine.self, from: Data(line.utf8)) } catch {
                    throw HTTPError.badRequest("manifest line \(number + 1) is not {\"image\", \"question\", \"answer\"}", code: "invalid_manifest")
                }
                guard let part = form[entry.image] else {
                    throw HTTPError.badRequest("manifest line \(number + 1) names image part \(entry.image), which the request lacks", code: "missing_image")
                }
                items.append(PushedItem(image: part.data, question: entry.question, answer: entry.answer))
            }
            let fraction = try form["eval_fraction"]?.text.map { text -> Double in
                guard let value = Double(text.trimmingCharacters(in: .whitespaces)) else {
                    throw HTTPError.badRequest("eval_fraction must be a number", code: "invalid_field")
                }
                return value
            }
            input = PushInput(name: name, items: items, strategy: form["strategy"]?.text, evalFraction: fraction ?? 0.1)
        } else {
            let body = try request.decodeJSON(Body.self, maxDepth: limits.maxJSONDepth)
            let items = try body.items.enumerated().map { index, item -> PushedItem in
                guard let image = Data(base64Encoded: item.image, options: .ignoreUnknownCharacters) else {
                    throw HTTPError.badRequest("items[\(index)].image is not valid base64", code: "invalid_image")
                }
                return PushedItem(image: image, question: item.question, answer: item.answer)
            }
            input = PushInput(name: body.name, items: items, strategy: body.strategy, evalFraction: body.eval_fraction ?? 0.1)
        }
        try input.validate(rules: rules, strategies: strategies, clientHasGone: request.clientHasGone)
        return input
    }

    /// Everything is checked before anything is stored: a push is all or nothing. Cheap checks come first, and
    /// images are decoded only once their headers together are within the push's pixel budget. The name,
    /// questions and answers are kept trimmed, as they were checked. A client that has gone stops the work
    /// before the next image.
    mutating func validate(rules: ItemRules, strategies: [String], clientHasGone: () -> Bool = { false }) throws {
        let limits = rules.limits
        name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.unicodeScalars.count <= limits.maxTaskNameCharacters,
              name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || $0.properties.numericType != nil || "-_. ".unicodeScalars.contains($0) }),
              name != "base" else {
            throw HTTPError.badRequest("task name must be 1–\(limits.maxTaskNameCharacters) letters, digits, spaces, '-', '_' or '.', and not \"base\"",
                                       code: "invalid_name")
        }
        guard !items.isEmpty else { throw HTTPError.badRequest("the push has no items", code: "no_items") }
        guard items.count <= limits.maxItemsPerPush else {
            throw HTTPError.badRequest("the push has \(items.count) items; the limit is \(limits.maxItemsPerPush)", code: "too_many_items")
        }
        guard (0 ..< 1).contains(evalFraction) else {
            throw HTTPError.badRequest("eval_fraction must be at least 0 and below 1", code: "invalid_field")
        }
        if let strategy, !strategies.contains(strategy) {
            throw HTTPError.badRequest("unknown strategy \(strategy); choose one of \(strategies.joined(separator: ", "))", code: "invalid_strategy")
        }
        for index in items.indices {
            items[index].question = try rules.question(items[index].question, field: "items[\(index)].question")
            items[index].answer = try rules.answer(items[index].answer, field: "items[\(index)].answer")
        }
        var pixels = 0
        for (index, item) in items.enumerated() {
            pixels += try rules.imagePixels(item.image, field: "items[\(index)].image")
            guard pixels <= limits.maxPushPixels else {
                throw HTTPError(.contentTooLarge, code: "push_too_large",
                                message: "the push's images hold more than \(limits.maxPushPixels) pixels together (by item \(index)); split it into smaller pushes")
            }
        }
        for (index, item) in items.enumerated() {
            if clientHasGone() { throw HTTPError.badRequest("the client closed the connection before the push was checked", code: "client_gone") }
            _ = try rules.image(item.image, field: "items[\(index)].image")
        }
    }
}
