import Foundation
import Imaging
import XCTest
@testable import Datasets

/// A fresh temporary folder per test, removed afterwards.
func makeTemporaryDirectory(_ name: String = #function) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("mneme-datasets-\(getpid())-\(name.filter(\.isLetter))-\(UInt32.random(in: 0 ... .max))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A small solid PNG whose colour identifies it.
func solidPNG(_ red: UInt8, _ green: UInt8 = 0, _ blue: UInt8 = 0, size: Int = 4) -> Data {
    PNGEncoder.encode(RGBImage(width: size, height: size, red: red, green: green, blue: blue))
}

func write(_ text: String, to url: URL) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
}

/// Asserts that `body` throws a `DatasetError` and returns it.
@discardableResult
func assertDatasetError(_ body: @autoclosure () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> DatasetError? {
    do {
        _ = try body()
        XCTFail("expected a DatasetError", file: file, line: line)
        return nil
    } catch let error as DatasetError {
        return error
    } catch {
        XCTFail("expected a DatasetError, got \(error)", file: file, line: line)
        return nil
    }
}

