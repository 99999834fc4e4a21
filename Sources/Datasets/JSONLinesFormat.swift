import Foundation

/// Reads `data.jsonl`: one JSON object per line with `image`, `question`, `answer` (and optionally `family`).
enum JSONLinesFormat {
    static func load(file: URL, directory: URL) throws -> Dataset {
        let data = try readFile(file)
        var items: [VQAItem] = []
        var locations: [String] = []
        var lineNumber = 0
        var start = data.startIndex
        // A UTF-8 byte-order mark is tolerated at the very start.
        if data.starts(with: [0xEF, 0xBB, 0xBF]) { start += 3 }
        while start < data.endIndex {
            lineNumber += 1
            let end = data[start...].firstIndex(of: 0x0A) ?? data.endIndex
            var line = data[start ..< end]
            start = end < data.endIndex ? end + 1 : end
            if line.last == 0x0D { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let location = "line \(lineNumber)"
            let fields = try JSONFields.parseObject(Data(line), file: file.path, location: location)
            let image = try fields.string("image")
            guard VQAItem.isSafeRelativePath(image) else {
                throw DatasetError.invalidValue(file: file.path, location: location, field: "image",
                                                reason: "\"\(image)\" must be a relative path inside the dataset folder")
            }
            items.append(VQAItem(image: image, question: try fields.string("question"), answer: try fields.string("answer"),
                                 family: try fields.optionalString("family")))
            locations.append(location)
        }
        guard !items.isEmpty else { throw DatasetError.empty(file: file.path) }
        return Dataset(directory: directory, items: items, dataFile: file, locations: locations)
    }

    static func readFile(_ file: URL) throws -> Data {
        do {
            return try Data(contentsOf: file)
        } catch {
            throw DatasetError.unreadable(path: file.path, reason: JSONFields.reason(error))
        }
    }
}
