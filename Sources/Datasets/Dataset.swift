import Foundation
import Imaging

/// A labelled VQA dataset on disk (docs/DESIGN.md §5): items plus the folder their image paths are relative to.
///
/// Two layouts load:
/// - **JSON lines**: a folder with `data.jsonl`, one object per line,
///   `{"image": "images/0001.png", "question": "...", "answer": "..."}` (an optional `"family"` string is
///   kept; other fields are ignored; blank lines are skipped). Image paths are relative to the folder.
/// - **LLaVA conversations**: a `.json` file holding
///   `[{"id": ..., "image": "...", "conversations": [{"from": "human", "value": "<image>\n..."},
///   {"from": "gpt", "value": "..."}, ...]}]`. Every human turn followed by a gpt turn becomes one item about
///   the entry's image; `<image>` markers and the whitespace and newlines around the question are removed.
///   `user`/`assistant` are accepted for `human`/`gpt`. An entry's image path is looked up relative to the
///   JSON file's folder first, then in its `images/` subfolder (LLaVA releases use both); the item's `image`
///   is the path that exists, relative to the JSON file's folder (kept as written when neither exists, so
///   `validateImages` reports it).
///
/// Image paths must be relative and stay inside the folder (no leading `/`, no `..`).
public struct Dataset: Sendable {
    /// The folder every `VQAItem.image` is relative to.
    public let directory: URL
    public let items: [VQAItem]
    /// The file the items were read from (`data.jsonl` or the conversation file); `nil` for in-memory datasets.
    public let dataFile: URL?
    /// Where each item came from, parallel to `items`: `line 7`, or `entry 3 (id "x"), turn pair 1`.
    public let locations: [String]

    /// A dataset built in memory (e.g. from uploaded files): items are located as `item 1`, `item 2`, ...
    public init(directory: URL, items: [VQAItem]) {
        self.init(directory: directory, items: items, dataFile: nil,
                  locations: items.indices.map { "item \($0 + 1)" })
    }

    init(directory: URL, items: [VQAItem], dataFile: URL?, locations: [String]) {
        precondition(items.count == locations.count, "one location per item")
        self.directory = directory
        self.items = items
        self.dataFile = dataFile
        self.locations = locations
    }

    /// Loads a folder (its `data.jsonl`, or else its single `*.json` conversation file), a `data.jsonl`
    /// file, or a conversation `.json` file. Throws `DatasetError` naming the file, line or entry, and
    /// field of the first problem. Images are not opened; see `validateImages`.
    public static func load(from url: URL) throws -> Dataset {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DatasetError.notFound(path: url.path)
        }
        if isDirectory.boolValue {
            let lines = url.appendingPathComponent("data.jsonl")
            if fileManager.fileExists(atPath: lines.path) {
                return try JSONLinesFormat.load(file: lines, directory: url)
            }
            let names: [String]
            do {
                names = try fileManager.contentsOfDirectory(atPath: url.path)
            } catch {
                throw DatasetError.unreadable(path: url.path, reason: JSONFields.reason(error))
            }
            let candidates = names.filter { !$0.hasPrefix(".") && $0.lowercased().hasSuffix(".json") }.sorted()
            guard let only = candidates.first else { throw DatasetError.missingDataFile(directory: url.path) }
            guard candidates.count == 1 else {
                throw DatasetError.ambiguousDataFiles(directory: url.path, candidates: candidates)
            }
            return try ConversationFormat.load(file: url.appendingPathComponent(only), directory: url)
        }
        switch url.pathExtension.lowercased() {
        case "jsonl":
            return try JSONLinesFormat.load(file: url, directory: url.deletingLastPathComponent())
        case "json":
            return try ConversationFormat.load(file: url, directory: url.deletingLastPathComponent())
        default:
            throw DatasetError.unsupportedFile(path: url.path)
        }
    }

    /// The encoded bytes of `item`'s image.
    public func imageData(of item: VQAItem) throws -> Data {
        let url = try imageURL(of: item)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw missingImage(item)
        }
        return data
    }

    /// `item`'s image decoded to RGB, refusing images over `limits` before decoding their pixels.
    public func image(of item: VQAItem, limits: ImageLimits = .default) throws -> RGBImage {
        let data = try imageData(of: item)
        do {
            return try ImageDecoder.decode(data, limits: limits)
        } catch let error as ImageError {
            throw DatasetError.badImage(image: item.image, reason: error.description)
        }
    }

    /// Checks that every referenced image is an existing regular file (without decoding it); throws
    /// `DatasetError.missingImage` for the first item whose image is absent.
    public func validateImages() throws {
        var checked = Set<String>()
        for item in items where checked.insert(item.image).inserted {
            let url = try imageURL(of: item)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw missingImage(item)
            }
        }
    }

    private func imageURL(of item: VQAItem) throws -> URL {
        guard VQAItem.isSafeRelativePath(item.image) else {
            throw DatasetError.invalidValue(file: dataFile?.path ?? directory.path, location: location(of: item),
                                            field: "image", reason: "\"\(item.image)\" is not a relative path inside the dataset folder")
        }
        return directory.appendingPathComponent(item.image)
    }

    private func missingImage(_ item: VQAItem) -> DatasetError {
        .missingImage(file: dataFile?.path ?? directory.path, location: location(of: item),
                      image: directory.appendingPathComponent(item.image).path)
    }

    private func location(of item: VQAItem) -> String {
        items.firstIndex(of: item).map { locations[$0] } ?? "item \(item.image)"
    }
}
