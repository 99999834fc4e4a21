import Foundation
import XCTest
@testable import Tensor

/// FreedMemory gives the heap's freed pages back to the kernel.
final class MemoryTests: XCTestCase {
    /// The resident anonymous memory of this process, in bytes.
    func residentAnonymous() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") } ?? ""
        return (Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0) * 1024
    }

    /// A fragmented heap — 96 MB of 32 KB blocks freed around a few kept ones, so glibc cannot shrink it from the
    /// top — is resident until released, and released it is not.
    func testReleaseGivesAFragmentedHeapBack() throws {
        let count = 3072, size = 32 << 10
        var blocks = (0 ..< count).map { _ -> UnsafeMutableRawPointer in
            let block = malloc(size)!
            memset(block, 1, size)
            return block
        }
        let kept = stride(from: 0, to: count, by: 256).map { blocks[$0] }
        for (index, block) in blocks.enumerated() where index % 256 != 0 { free(block) }
        blocks.removeAll()
        defer { for block in kept { free(block) } }
        let before = residentAnonymous()
        FreedMemory.release()
        let after = residentAnonymous()
        XCTAssertGreaterThan(before - after, 64 << 20, "released \(before - after) bytes of \(count * size)")
    }
}
