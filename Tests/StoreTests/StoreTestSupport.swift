import Foundation
import XCTest
@testable import Store

/// A scratch directory removed after the test; the data directory is `root/data`.
final class Scratch {
    let root: URL
    var data: URL { root.appendingPathComponent("data") }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: root) }
}

enum Samples {
    /// `count` items whose bytes depend only on `seed` and the index: a PNG signature then pseudo-random bytes.
    static func items(_ count: Int, seed: UInt64 = 1) -> [PushedItem] {
        (0..<count).map { index in
            var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index)
            var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            for _ in 0..<(40 + index % 7) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes.append(UInt8(truncatingIfNeeded: state >> 56))
            }
            return PushedItem(image: Data(bytes), question: "what is shown in picture \(index) of \(seed)?\nsay \"it\"",
                              answer: "thing \(index % 5)")
        }
    }

    static func jpeg() -> Data { Data([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]) }
}

/// Every path under `directory` (relative, sorted), with file sizes and modification times: a fingerprint that
/// changes when anything is written.
func treeFingerprint(_ directory: URL) -> [String] {
    guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.fileSizeKey, .contentModificationDateKey]) else { return [] }
    var lines: [String] = []
    for case let url as URL in walker {
        let values = try? url.resourceValues(forKeys: [.fileSizeKey, .contentModificationDateKey])
        let relative = String(url.standardizedFileURL.path.dropFirst(directory.standardizedFileURL.path.count))
        lines.append("\(relative) \(values?.fileSize ?? -1) \(values?.contentModificationDate?.timeIntervalSince1970 ?? 0)")
    }
    return lines.sorted()
}

func XCTAssertStoreError<T>(_ expression: @autoclosure () throws -> T, _ expected: StoreError,
                            file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try expression(), file: file, line: line) { error in
        XCTAssertEqual(error as? StoreError, expected, file: file, line: line)
    }
}
