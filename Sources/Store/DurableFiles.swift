import Foundation
import ModelIO

/// The few file-system primitives the store's crash safety rests on. Every failure becomes `StoreError.io`
/// with the path, so a full disk or a permission problem reads clearly in a response or a log.
enum Durable {
    /// Creates `url` (which must not exist), writes `data`, and fsyncs it before returning.
    static func createFile(_ data: Data, at url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.errno(url.path, "create") }
        var failure: StoreError?
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var written = 0
            while written < raw.count {
                let n = write(fd, base + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = StoreError.errno(url.path, "write"); return
                }
                written += n
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = StoreError.errno(url.path, "fsync") }
        if close(fd) != 0, failure == nil { failure = StoreError.errno(url.path, "close") }
        if let failure { throw failure }
    }

    /// Replaces `url` atomically (temporary sibling, fsync, rename, directory fsync) through ModelIO's `AtomicFile`.
    /// Its temporaries are named `.<name>.tmp-…`; recovery removes leftovers of them.
    static func replace(_ data: Data, at url: URL) throws {
        do { try AtomicFile.write(data, to: url) } catch { throw StoreError.io(path: url.path, reason: "\(error)") }
    }

    /// Makes the directory entries of `directory` (creations, renames, removals) durable.
    static func syncDirectory(_ directory: URL) throws {
        let fd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.errno(directory.path, "open directory") }
        defer { close(fd) }
        // Some file systems cannot sync a directory; they report EINVAL, which leaves nothing for us to do.
        if fsync(fd) != 0, errno != EINVAL { throw StoreError.errno(directory.path, "fsync directory") }
    }

    /// fsyncs every regular file and directory under `directory`, deepest first, then `directory` itself.
    static func syncTree(_ directory: URL) throws {
        let entries: [URL]
        do {
            entries = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: [.isDirectoryKey])
        } catch { throw StoreError.io(path: directory.path, reason: "cannot list: \(error.localizedDescription)") }
        for entry in entries {
            if (try? entry.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true {
                try syncTree(entry)
            } else {
                let fd = open(entry.path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw StoreError.errno(entry.path, "open") }
                defer { close(fd) }
                if fsync(fd) != 0 { throw StoreError.errno(entry.path, "fsync") }
            }
        }
        try syncDirectory(directory)
    }

    static func makeDirectory(_ url: URL) throws {
        if mkdir(url.path, 0o755) != 0, errno != EEXIST { throw StoreError.errno(url.path, "mkdir") }
    }

    static func rename(_ from: URL, to: URL) throws {
        if Foundation.rename(from.path, to.path) != 0 { throw StoreError.errno(to.path, "rename from \(from.lastPathComponent)") }
    }

    static func removeTree(_ url: URL) throws {
        do { try FileManager.default.removeItem(at: url) } catch CocoaError.fileNoSuchFile {
        } catch { throw StoreError.io(path: url.path, reason: "cannot remove: \(error.localizedDescription)") }
    }

    static func exists(_ url: URL) -> Bool { access(url.path, F_OK) == 0 }

    /// The names in `directory`, or none when it does not exist.
    static func names(in directory: URL) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch CocoaError.fileReadNoSuchFile {
            return []
        } catch CocoaError.fileNoSuchFile {
            return []
        } catch { throw StoreError.io(path: directory.path, reason: "cannot list: \(error.localizedDescription)") }
    }

    /// The bytes of `url`, nil when it does not exist.
    static func read(_ url: URL) throws -> Data? {
        do { return try Data(contentsOf: url) } catch CocoaError.fileReadNoSuchFile {
            return nil
        } catch CocoaError.fileNoSuchFile {
            return nil
        } catch { throw StoreError.io(path: url.path, reason: "cannot read: \(error.localizedDescription)") }
    }
}

/// JSON as the store writes it: snake_case keys spelled out in each type, ISO-8601 UTC times with milliseconds.
enum StoreJSON {
    private static let secondsStyle = Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!)
    private static let fractionalStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!)

    /// `2026-11-23T03:15:00.123Z`: whole milliseconds, rounded, formatted from integers so nothing drifts.
    static func string(from date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let seconds = Int64((Double(milliseconds) / 1000).rounded(.down))
        let fraction = Int(milliseconds - seconds * 1000)
        let text = secondsStyle.format(Date(timeIntervalSince1970: TimeInterval(seconds)))
        return text.dropLast() + "." + String(format: "%03d", fraction) + "Z"
    }

    /// Any ISO-8601 time, with or without fractional seconds, quantised to whole milliseconds.
    static func date(from text: String) -> Date? {
        guard let parsed = (try? fractionalStyle.parse(text)) ?? (try? secondsStyle.parse(text)) else { return nil }
        return Date(timeIntervalSince1970: (parsed.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    /// The current time as it reads back from disk (whole milliseconds), so a record a call returns equals the
    /// same record read from its file later.
    static func now() -> Date { Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded() / 1000) }

    static func encode<T: Encodable>(_ value: T, pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(string(from: date))
        }
        return try encoder.encode(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data, path: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = date(from: text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO-8601 time: \(text)")
            }
            return date
        }
        do { return try decoder.decode(type, from: data) } catch {
            throw StoreError.corrupt(path: path, reason: describe(error))
        }
    }

    /// Reads and decodes `url`; nil when the file does not exist.
    static func load<T: Decodable>(_ type: T.Type, from url: URL) throws -> T? {
        guard let data = try Durable.read(url) else { return nil }
        return try decode(type, from: data, path: url.path)
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            "missing \(path(context.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at \(path(context.codingPath)): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            "\(context.debugDescription) at \(path(context.codingPath))"
        default: "\(error)"
        }
    }

    private static func path(_ keys: [CodingKey]) -> String {
        keys.isEmpty ? "top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
