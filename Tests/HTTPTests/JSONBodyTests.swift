import Foundation
import XCTest
@testable import HTTP

final class JSONBodyTests: XCTestCase {
    private struct Item: Decodable { let image: String; let question: String; let answer: String }
    private struct Push: Decodable { let name: String; let items: [Item]; let evalFraction: Double? }
    private struct Anything: Decodable {}

    private func decodeError<T: Decodable>(_ json: String, as type: T.Type, maxDepth: Int = 64) -> HTTPError? {
        do {
            _ = try HTTPRequest(method: .post, path: "/", body: Data(json.utf8)).decodeJSON(type, maxDepth: maxDepth)
            return nil
        } catch {
            return error
        }
    }

    func testValidBodyDecodes() throws {
        let json = #"{"name": "shapes", "items": [{"image": "aGk=", "question": "what?", "answer": "red"}]}"#
        let push = try HTTPRequest(method: .post, path: "/", body: Data(json.utf8)).decodeJSON(Push.self)
        XCTAssertEqual(push.items.first?.answer, "red")
        XCTAssertNil(push.evalFraction)
    }

    func testOverDeepDocumentIsRejectedBeforeDecoding() {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        let error = decodeError(deep, as: [Anything].self)
        XCTAssertEqual(error?.status, .badRequest)
        XCTAssertEqual(error?.code, "json_too_deep")
        XCTAssertTrue(error?.message.contains("nesting deeper than 64") ?? false, error?.message ?? "")
        // The 65th bracket is at byte offset 64.
        XCTAssertTrue(error?.message.contains("at byte 64") ?? false, error?.message ?? "")

        // Exactly at the limit passes the scan.
        XCTAssertNoThrow(try JSONBody.checkDepth(Data((String(repeating: "[", count: 64) + String(repeating: "]", count: 64)).utf8),
                                                 maxDepth: 64))
        // Objects count as well as arrays.
        XCTAssertThrowsError(try JSONBody.checkDepth(Data(#"{"a": {"b": {"c": 1}}}"#.utf8), maxDepth: 2))
    }

    func testHugeNestingIsA400NotACrash() {
        // Deep enough that a recursive parser without a limit could run out of stack.
        let count = 1_000_000
        let error = decodeError(String(repeating: "[", count: count) + String(repeating: "]", count: count), as: [Anything].self)
        XCTAssertEqual(error?.code, "json_too_deep")
    }

    func testBracketsInsideStringsDoNotCount() throws {
        let json = #"{"name": "[[[[{{{{\"]]]]", "items": []}"#
        XCTAssertNoThrow(try JSONBody.checkDepth(Data(json.utf8), maxDepth: 2))
        XCTAssertNoThrow(try JSONBody.checkDepth(Data(#"["\\", ["x"]]"#.utf8), maxDepth: 2))
    }

    func testMalformedJSONReportsThePosition() {
        // Python's json module reports the same offsets for these inputs (char 24, 9 and 4).
        let cases = [("{\"name\": \"a\",\n \"items\": x}", 24), (#"{"name":"\q", "items": []}"#, 9), ("[1] x", 4)]
        for (json, offset) in cases {
            let error = decodeError(json, as: Push.self)
            XCTAssertEqual(error?.status, .badRequest)
            XCTAssertEqual(error?.code, "invalid_json")
            XCTAssertTrue(error?.message.contains("malformed JSON") ?? false, error?.message ?? "")
            XCTAssertTrue(error?.message.contains("character \(offset)") ?? false, error?.message ?? "")
        }
        XCTAssertTrue(decodeError("", as: Push.self)?.message.contains("empty") ?? false)
    }

    func testWrongTypesAndMissingFieldsNameTheField() {
        let wrongType = #"{"name": "s", "items": [{"image": "a", "question": "q", "answer": "x"}, {"image": "a", "question": ["q"], "answer": "x"}]}"#
        var error = decodeError(wrongType, as: Push.self)
        XCTAssertEqual(error?.status, .badRequest)
        XCTAssertTrue(error?.message.contains("wrong type for items[1].question") ?? false, error?.message ?? "")
        XCTAssertTrue(error?.message.contains("expected a string") ?? false, error?.message ?? "")

        error = decodeError(#"{"name": "s", "items": [{"image": "a", "question": "q"}]}"#, as: Push.self)
        XCTAssertTrue(error?.message.contains("missing field items[0].answer") ?? false, error?.message ?? "")

        error = decodeError(#"{"name": null, "items": []}"#, as: Push.self)
        XCTAssertTrue(error?.message.contains("name") ?? false, error?.message ?? "")

        error = decodeError(#"{"name": "s", "items": [], "evalFraction": "half"}"#, as: Push.self)
        XCTAssertTrue(error?.message.contains("evalFraction") ?? false, error?.message ?? "")
        XCTAssertTrue(error?.message.contains("expected a number") ?? false, error?.message ?? "")
    }
}
