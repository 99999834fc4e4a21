import Foundation

/// Reads LLaVA-style conversation files: `[{"id", "image", "conversations": [{"from", "value"}, ...]}]`.
enum ConversationFormat {
    static let imageMarker = "<image>"
    private static let questionRoles: Set<String> = ["human", "user"]
    private static let answerRoles: Set<String> = ["gpt", "assistant"]

    static func load(file: URL, directory: URL) throws -> Dataset {
        let data = try JSONLinesFormat.readFile(file)
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw DatasetError.malformedJSON(file: file.path, location: "top level", reason: JSONFields.reason(error))
        }
        guard let entries = root as? [Any] else {
            throw DatasetError.wrongType(file: file.path, location: "top level", field: "(top level)",
                                         expected: "an array of conversations", found: JSONFields.typeName(root))
        }
        var items: [VQAItem] = []
        var locations: [String] = []
        for (index, entry) in entries.enumerated() {
            var location = "entry \(index + 1)"
            guard let object = entry as? [String: Any] else {
                throw DatasetError.wrongType(file: file.path, location: location, field: "(entry)", expected: "an object",
                                             found: JSONFields.typeName(entry))
            }
            if let id = object["id"], !(id is NSNull) { location += " (id \(describe(id)))" }
            let fields = JSONFields(object: object, file: file.path, location: location)
            let written = try fields.string("image")
            guard VQAItem.isSafeRelativePath(written) else {
                throw DatasetError.invalidValue(file: file.path, location: location, field: "image",
                                                reason: "\"\(written)\" must be a relative path inside the dataset folder")
            }
            let image = resolve(written, in: directory)
            guard let turnsValue = fields["conversations"], !(turnsValue is NSNull) else {
                throw DatasetError.missingField(file: file.path, location: location, field: "conversations")
            }
            guard let turns = turnsValue as? [Any] else {
                throw DatasetError.wrongType(file: file.path, location: location, field: "conversations",
                                             expected: "an array", found: JSONFields.typeName(turnsValue))
            }
            var pending: String?
            var pairs = 0
            for (turnIndex, turnValue) in turns.enumerated() {
                let turnLocation = "\(location), turn \(turnIndex + 1)"
                guard let turnObject = turnValue as? [String: Any] else {
                    throw DatasetError.wrongType(file: file.path, location: turnLocation, field: "(turn)",
                                                 expected: "an object", found: JSONFields.typeName(turnValue))
                }
                let turn = JSONFields(object: turnObject, file: file.path, location: turnLocation)
                let role = try turn.string("from").lowercased()
                let value = try turn.string("value", allowEmpty: true)
                if questionRoles.contains(role) {
                    guard pending == nil else {
                        throw DatasetError.invalidValue(file: file.path, location: turnLocation, field: "from",
                                                        reason: "two \"\(role)\" turns in a row; a gpt reply was expected")
                    }
                    let question = cleanQuestion(value)
                    guard !question.isEmpty else {
                        throw DatasetError.invalidValue(file: file.path, location: turnLocation, field: "value",
                                                        reason: "the question is empty once the <image> marker is removed")
                    }
                    pending = question
                } else if answerRoles.contains(role) {
                    guard let question = pending else {
                        throw DatasetError.invalidValue(file: file.path, location: turnLocation, field: "from",
                                                        reason: "a \"\(role)\" turn without a human turn before it")
                    }
                    let answer = value.trimmingCharacters(in: .whitespacesAndNewlines)
                    guard !answer.isEmpty else {
                        throw DatasetError.invalidValue(file: file.path, location: turnLocation, field: "value", reason: "empty answer")
                    }
                    pairs += 1
                    items.append(VQAItem(image: image, question: question, answer: answer))
                    locations.append("\(location), turn pair \(pairs)")
                    pending = nil
                } else if role != "system" {
                    throw DatasetError.invalidValue(file: file.path, location: turnLocation, field: "from",
                                                    reason: "\"\(role)\" is not human, gpt, user, assistant or system")
                }
            }
            if pending != nil {
                throw DatasetError.invalidValue(file: file.path, location: location, field: "conversations",
                                                reason: "the last human turn has no gpt reply")
            }
        }
        guard !items.isEmpty else { throw DatasetError.empty(file: file.path) }
        return Dataset(directory: directory, items: items, dataFile: file, locations: locations)
    }

    /// The question without `<image>` markers and without the whitespace and newlines around it.
    static func cleanQuestion(_ value: String) -> String {
        value.replacingOccurrences(of: imageMarker, with: "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `path` relative to `directory` if the file is there, else under `images/` if it is there, else as written.
    static func resolve(_ path: String, in directory: URL) -> String {
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: directory.appendingPathComponent(path).path) { return path }
        let nested = "images/" + path
        if fileManager.fileExists(atPath: directory.appendingPathComponent(nested).path) { return nested }
        return path
    }

    private static func describe(_ id: Any) -> String {
        if let text = JSONFields.string(id) { return "\"\(text)\"" }
        return "\(id)"
    }
}
