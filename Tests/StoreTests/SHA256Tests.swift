import Foundation
import XCTest
@testable import Store

final class SHA256Tests: XCTestCase {
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    func digest(_ bytes: [UInt8], chunk: Int = .max) -> String {
        var hasher = SHA256()
        var start = 0
        repeat {
            let end = min(bytes.count, start + max(chunk, 1))
            hasher.update(Array(bytes[start..<end]))
            start = end
        } while start < bytes.count
        return hex(hasher.finalize())
    }

    /// FIPS 180-2 appendix B test vectors.
    func testPublishedVectors() {
        XCTAssertEqual(digest([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(digest(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(digest([UInt8](repeating: 0x61, count: 1_000_000), chunk: 4099),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Lengths around the 55/56/64-byte padding boundaries, fed in odd chunks, against the system's sha256sum.
    func testAgainstSystemSha256sum() throws {
        let tool = URL(fileURLWithPath: "/usr/bin/sha256sum")
        guard FileManager.default.isExecutableFile(atPath: tool.path) else { throw XCTSkip("no sha256sum") }
        let scratch = try Scratch()
        for length in [1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ length) }
            let file = scratch.root.appendingPathComponent("\(length)")
            try Data(bytes).write(to: file)
            let process = Process()
            process.executableURL = tool
            process.arguments = [file.path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            let expected = String(output.prefix(64))
            XCTAssertEqual(digest(bytes), expected, "length \(length)")
            XCTAssertEqual(digest(bytes, chunk: 7), expected, "length \(length) in chunks of 7")
        }
    }
}
