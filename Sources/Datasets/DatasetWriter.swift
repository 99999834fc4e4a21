import Foundation
import Imaging

/// Writes datasets in the JSON-lines layout that `Dataset.load` reads.
public enum DatasetWriter {
    /// Writes `data.jsonl` and the image files to `directory` (see `DatasetFolderWriter` for naming, fsync
    /// and atomicity). Throws `DatasetError.destinationExists` if `directory` holds files, unless `overwrite`.
    @discardableResult
    public static func write(items: [(item: VQAItem, imageData: Data)], to directory: URL,
                             overwrite: Bool = false) throws -> Dataset {
        let writer = try DatasetFolderWriter(directory: directory, overwrite: overwrite)
        do {
            for entry in items { try writer.append(entry.item, imageData: entry.imageData) }
            return try writer.finish()
        } catch {
            writer.cancel()
            throw error
        }
    }

    /// Writes only `data.jsonl` into the existing folder `directory`, for items whose images are already
    /// there (e.g. a combined index over several datasets in subfolders). Every image must exist. The file
    /// is replaced atomically: written to a temporary name, fsynced, renamed.
    @discardableResult
    public static func writeIndex(items: [VQAItem], to directory: URL) throws -> Dataset {
        let dataset = Dataset(directory: directory, items: items, dataFile: directory.appendingPathComponent("data.jsonl"),
                              locations: items.indices.map { "item \($0 + 1)" })
        try dataset.validateImages()
        try FileIO.writeAtomically(Data(items.map(jsonLine).joined().utf8), to: directory.appendingPathComponent("data.jsonl"))
        return dataset
    }

    /// One `data.jsonl` line (with its newline): keys in the order image, question, answer, family.
    public static func jsonLine(_ item: VQAItem) -> String {
        var line = "{\"image\": \(quoted(item.image)), \"question\": \(quoted(item.question)), \"answer\": \(quoted(item.answer))"
        if let family = item.family { line += ", \"family\": \(quoted(family))" }
        return line + "}\n"
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped; everything else (`/`,
    /// non-ASCII) written as UTF-8, so the output is stable and readable.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

/// Writes one dataset folder item by item, so large datasets never sit in memory.
///
/// Everything goes to a hidden staging folder next to the destination (`.<name>.partial-<pid>-<n>`); each
/// file is fsynced as it is closed; `finish()` writes `data.jsonl`, fsyncs the folders and renames the
/// staging folder into place (an existing destination, when overwriting, is renamed away first and then
/// removed). A crash before `finish()` leaves the destination untouched.
///
/// Image names: an item with a non-empty `image` keeps that relative path (items sharing a path must share
/// the bytes, which are stored once); an empty `image` becomes `images/<n>.png` or `.jpg` (from the data's
/// magic bytes), `<n>` the 1-based item number zero-padded to 5 digits.
public final class DatasetFolderWriter {
    public let destination: URL
    private let staging: URL
    private let overwrite: Bool
    private var lines: [String] = []
    private var items: [VQAItem] = []
    private var writtenPaths = Set<String>()
    private var createdFolders = Set<String>()
    private var finished = false

    public init(directory: URL, overwrite: Bool = false) throws {
        destination = directory.standardizedFileURL
        self.overwrite = overwrite
        let fileManager = FileManager.default
        if !overwrite, let contents = try? fileManager.contentsOfDirectory(atPath: destination.path), !contents.isEmpty {
            throw DatasetError.destinationExists(path: destination.path)
        }
        var isDirectory: ObjCBool = false
        if !overwrite, fileManager.fileExists(atPath: destination.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw DatasetError.destinationExists(path: destination.path)
        }
        let parent = destination.deletingLastPathComponent()
        staging = parent.appendingPathComponent(".\(destination.lastPathComponent).partial-\(getpid())-\(FileIO.nextSerial())")
        do {
            try fileManager.createDirectory(at: parent, withIntermediateDirectories: true)
            try? fileManager.removeItem(at: staging)
            try fileManager.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw DatasetError.writeFailed(path: staging.path, reason: JSONFields.reason(error))
        }
    }

    /// Number of items appended so far.
    public var count: Int { items.count }

    /// Adds an item and writes its image (see the naming rule above); returns the item as stored.
    @discardableResult
    public func append(_ item: VQAItem, imageData: Data) throws -> VQAItem {
        precondition(!finished, "append after finish or cancel")
        var stored = item
        if stored.image.isEmpty {
            let format: ImageFormat
            do {
                format = try ImageDecoder.format(of: imageData)
            } catch {
                throw DatasetError.badImage(image: "item \(items.count + 1)", reason: "\(error)")
            }
            let number = String(items.count + 1)
            stored.image = "images/" + String(repeating: "0", count: max(0, 5 - number.count)) + number
                + (format == .png ? ".png" : ".jpg")
        }
        guard VQAItem.isSafeRelativePath(stored.image) else {
            throw DatasetError.invalidValue(file: destination.path, location: "item \(items.count + 1)", field: "image",
                                            reason: "\"\(stored.image)\" must be a relative path inside the dataset folder")
        }
        let url = staging.appendingPathComponent(stored.image)
        if writtenPaths.contains(stored.image) {
            guard FileManager.default.contents(atPath: url.path) == imageData else {
                throw DatasetError.invalidValue(file: destination.path, location: "item \(items.count + 1)", field: "image",
                                                reason: "\(stored.image) was already written with different bytes")
            }
        } else {
            let folder = url.deletingLastPathComponent()
            if createdFolders.insert(folder.path).inserted {
                do {
                    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                } catch {
                    throw DatasetError.writeFailed(path: folder.path, reason: JSONFields.reason(error))
                }
            }
            try FileIO.write(imageData, to: url)
            writtenPaths.insert(stored.image)
        }
        items.append(stored)
        lines.append(DatasetWriter.jsonLine(stored))
        return stored
    }

    /// Writes `data.jsonl`, syncs, and moves the folder into place. Returns the written dataset.
    @discardableResult
    public func finish() throws -> Dataset {
        precondition(!finished, "finish called twice")
        finished = true
        let fileManager = FileManager.default
        do {
            try FileIO.write(Data(lines.joined().utf8), to: staging.appendingPathComponent("data.jsonl"))
            for folder in createdFolders.sorted(by: >) { FileIO.syncDirectory(URL(fileURLWithPath: folder)) }
            FileIO.syncDirectory(staging)
            var trash: URL?
            if fileManager.fileExists(atPath: destination.path) {
                let aside = staging.deletingLastPathComponent()
                    .appendingPathComponent(".\(destination.lastPathComponent).old-\(getpid())-\(FileIO.nextSerial())")
                try fileManager.moveItem(at: destination, to: aside)
                trash = aside
            }
            try fileManager.moveItem(at: staging, to: destination)
            FileIO.syncDirectory(destination.deletingLastPathComponent())
            if let trash { try? fileManager.removeItem(at: trash) }
        } catch let error as DatasetError {
            try? fileManager.removeItem(at: staging)
            throw error
        } catch {
            try? fileManager.removeItem(at: staging)
            throw DatasetError.writeFailed(path: destination.path, reason: JSONFields.reason(error))
        }
        return Dataset(directory: destination, items: items, dataFile: destination.appendingPathComponent("data.jsonl"),
                       locations: items.indices.map { "line \($0 + 1)" })
    }

    /// Abandons the write and removes the staging folder; the destination is untouched.
    public func cancel() {
        guard !finished else { return }
        finished = true
        try? FileManager.default.removeItem(at: staging)
    }

    deinit { cancel() }
}
