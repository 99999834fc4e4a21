import Foundation
import XCTest
@testable import Tokenizer

/// Loading errors: unsupported component types and malformed files are reported, naming the component.
final class TokenizerLoadingTests: XCTestCase {
    /// A tiny valid tokenizer.json as a JSON object that tests can modify.
    func minimal() -> [String: Any] {
        [
            "version": "1.0",
            "added_tokens": [["id": 0, "content": "<unk>", "special": true, "normalized": false,
                              "single_word": false, "lstrip": false, "rstrip": false]],
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "Whitespace"],
            "post_processor": NSNull(),
            "decoder": NSNull(),
            "model": ["type": "BPE", "unk_token": "<unk>", "vocab": ["<unk>": 0, "a": 1, "b": 2, "ab": 3],
                      "merges": [["a", "b"]]],
        ]
    }

    func load(_ object: [String: Any]) throws -> Tokenizer {
        try Tokenizer(data: try JSONSerialization.data(withJSONObject: object))
    }

    func expectUnsupported(_ object: [String: Any], component: String, type: String,
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(object), file: file, line: line) { error in
            guard case TokenizerError.unsupported(let gotComponent, let gotType) = error else {
                return XCTFail("expected .unsupported, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(gotComponent, component, file: file, line: line)
            XCTAssertEqual(gotType, type, file: file, line: line)
            XCTAssertTrue("\(error)".contains(type), "message should name the type: \(error)", file: file, line: line)
        }
    }

    func testMinimalTokenizerWorks() throws {
        let tokenizer = try load(minimal())
        XCTAssertEqual(tokenizer.encode("ab a b c"), [3, 1, 2, 0])
        XCTAssertEqual(tokenizer.decode([3, 1]), "ab a")
        XCTAssertEqual(tokenizer.vocabularySize, 4)
    }

    func testUnknownComponentTypesAreNamed() {
        var object = minimal()
        object["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "Precompiled"]]]
        expectUnsupported(object, component: "normalizer.normalizers[1]", type: "Precompiled")

        object = minimal()
        object["pre_tokenizer"] = ["type": "UnicodeScripts"]
        expectUnsupported(object, component: "pre_tokenizer", type: "UnicodeScripts")

        object = minimal()
        object["model"] = ["type": "Unigram", "vocab": [["<unk>", 0.0]], "unk_id": 0]
        expectUnsupported(object, component: "model", type: "Unigram")

        object = minimal()
        object["post_processor"] = ["type": "Mystery"]
        expectUnsupported(object, component: "post_processor", type: "Mystery")

        object = minimal()
        object["decoder"] = ["type": "Sequence", "decoders": [["type": "Fuse"], ["type": "Telepathy"]]]
        expectUnsupported(object, component: "decoder.decoders[1]", type: "Telepathy")
    }

    func testMalformedFilesAreReported() {
        XCTAssertThrowsError(try Tokenizer(data: Data("{\"model\": ".utf8))) { error in
            guard case TokenizerError.malformed = error else { return XCTFail("got \(error)") }
        }
        XCTAssertThrowsError(try Tokenizer(data: Data("[]".utf8)))

        var object = minimal()
        object["model"] = nil
        XCTAssertThrowsError(try load(object))

        object = minimal()
        object["model"] = ["type": "BPE", "vocab": ["a": 0], "merges": [["a", "zz"]]]
        XCTAssertThrowsError(try load(object)) { error in
            guard case TokenizerError.unknownToken(_, let token) = error else { return XCTFail("got \(error)") }
            XCTAssertEqual(token, "zz")
        }

        object = minimal()
        object["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "(unclosed"], "behavior": "Isolated",
                                   "invert": false]
        XCTAssertThrowsError(try load(object)) { error in
            guard case TokenizerError.invalidPattern = error else { return XCTFail("got \(error)") }
        }

        object = minimal()
        object["post_processor"] = ["type": "TemplateProcessing", "single": "<s> $A", "special_tokens": [:]]
        XCTAssertThrowsError(try load(object)) { error in
            guard case TokenizerError.unknownToken(_, let token) = error else { return XCTFail("got \(error)") }
            XCTAssertEqual(token, "<s>")
        }
    }

    func testMissingFileIsReported() {
        XCTAssertThrowsError(try Tokenizer(contentsOf: URL(fileURLWithPath: "/nonexistent/tokenizer.json"))) { error in
            guard case TokenizerError.unreadable = error else { return XCTFail("got \(error)") }
        }
    }

    /// Vocabulary keys are compared scalar by scalar: "é" and "e\u{301}" are different tokens.
    func testCanonicallyEquivalentTokensStayDistinct() throws {
        // Written as text: a Swift dictionary literal cannot even hold both keys.
        let json = #"{"model": {"type": "WordLevel", "unk_token": "<unk>", "vocab": {"<unk>": 0, "\u00e9": 1, "e\u0301": 2}}}"#
        let tokenizer = try Tokenizer(data: Data(json.utf8))
        XCTAssertEqual(tokenizer.encode("\u{E9}"), [1])
        XCTAssertEqual(tokenizer.encode("e\u{301}"), [2])
        XCTAssertEqual(tokenizer.id(of: "e\u{301}"), 2)
        XCTAssertTrue(try XCTUnwrap(tokenizer.token(of: 2)).hasSameScalars(as: "e\u{301}"))
    }
}
