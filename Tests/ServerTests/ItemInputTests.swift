import Foundation
import HTTP
import Imaging
import LLaVA
import XCTest
@testable import Server

/// What a push and a query may be, checked by the one set of rules before anything is stored.
final class ItemInputTests: XCTestCase {
    static let rules: ItemRules = {
        var limits = ServerLimits()
        limits.maxPushPixels = 10 * 32 * 32
        return ItemRules(limits: limits, pipeline: try! LlavaPipeline.load(from: AnswerRouteTests.model))
    }()

    static let png = PNGEncoder.encode(RGBImage(width: 32, height: 32, red: 200, green: 30, blue: 30))

    func push(_ body: [String: Any]) throws -> PushInput {
        let request = HTTPRequest(method: .post, uri: "/v1/tasks", headers: ["Content-Type": "application/json"],
                                  body: try JSONSerialization.data(withJSONObject: body))
        return try PushInput.parse(request, rules: Self.rules, strategies: ["branchlora", "seq-lora"])
    }

    func item(question: String = "What colour is it?", answer: String = "red", image: Data = png) -> [String: Any] {
        ["image": image.base64EncodedString(), "question": question, "answer": answer]
    }

    func code(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch { return (error as? HTTPError)?.code ?? "\(error)" }
    }

    func testAPushIsStoredAsItWasChecked() throws {
        let input = try push(["name": "\u{00A0} colours \t", "items": [item(question: "  What colour is it? ", answer: " red\n")]])
        XCTAssertEqual(input.name, "colours", "trimmed of every kind of space, as it is stored and compared")
        XCTAssertEqual(input.items[0].question, "What colour is it?")
        XCTAssertEqual(input.items[0].answer, "red")
        XCTAssertEqual(input.evalFraction, 0.1)
    }

    func testEachRuleHasItsCode() {
        XCTAssertEqual(code { try self.push(["name": "base", "items": [self.item()]]) }, "invalid_name")
        XCTAssertEqual(code { try self.push(["name": "a/b", "items": [self.item()]]) }, "invalid_name")
        XCTAssertEqual(code { try self.push(["name": "ok", "items": [Any]()]) }, "no_items")
        XCTAssertEqual(code { try self.push(["name": "ok", "items": [self.item()], "eval_fraction": 1.0]) }, "invalid_field")
        XCTAssertEqual(code { try self.push(["name": "ok", "items": [self.item()], "strategy": "magic"]) }, "invalid_strategy")
        XCTAssertEqual(code { try self.push(["name": "ok", "items": [self.item(question: " ")]]) }, "invalid_question")
        XCTAssertEqual(code { try self.push(["name": "ok", "items": [self.item(question: String(repeating: "é", count: 2049))]]) },
                       "question_too_long", "4,098 bytes: over the byte limit before any tokenizing")
        XCTAssertEqual(code { try self.push(["name": "ok", "items": [self.item(question: String(repeating: "ab ", count: 300))]]) },
                       "question_too_long", "within the bytes, beyond the model's positions")
        XCTAssertEqual(code { try self.push(["name": "ok", "items": [self.item(answer: String(repeating: "red ", count: 40))]]) },
                       "invalid_answer", "more tokens than the longest answer")
        XCTAssertEqual(code { try self.push(["name": "ok", "items": [self.item(image: Data())]]) }, "invalid_image")
        XCTAssertEqual(code { try self.push(["name": "ok", "items": Array(repeating: self.item(), count: 11)]) }, "push_too_large",
                       "eleven 32 × 32 images pass a budget of ten")
        XCTAssertNil(code { try self.push(["name": "ok", "items": Array(repeating: self.item(), count: 10)]) })
    }

    func testValidationStopsWhenTheClientHasGone() throws {
        var input = try push(["name": "ok", "items": Array(repeating: item(), count: 5)])
        var looks = 0
        XCTAssertThrowsError(try input.validate(rules: Self.rules, strategies: ["branchlora"]) { looks += 1; return looks > 2 }) {
            XCTAssertEqual(($0 as? HTTPError)?.code, "client_gone")
        }
        XCTAssertEqual(looks, 3, "it looked before each image and stopped at the first look that found the client gone")
    }

    func query(_ body: [String: Any]) throws -> QueryInput {
        try QueryInput.parse(HTTPRequest(method: .post, uri: "/v1/answer", headers: ["Content-Type": "application/json"],
                                         body: try JSONSerialization.data(withJSONObject: body)), rules: Self.rules)
    }

    /// A query: JSON with a base64 image or multipart with an image part; every field checked, with its code.
    func testAQueryIsParsedAndCheckedFieldByField() throws {
        let parsed = try query(["image": Self.png.base64EncodedString(), "question": " What colour? ", "max_new_tokens": 3, "top_logprobs": 2,
                                "task": "colours"])
        XCTAssertEqual(parsed.question, "What colour?")
        XCTAssertEqual([parsed.maxNewTokens, parsed.topLogprobs], [3, 2])
        XCTAssertEqual(parsed.task, "colours")
        XCTAssertEqual(parsed.imageData, Self.png, "the image as sent, kept for feedback")
        XCTAssertEqual(code { try self.query(["image": "%%%", "question": "What?"]) }, "invalid_image")
        XCTAssertEqual(code { try self.query(["image": Self.png.base64EncodedString(), "question": "What?", "max_new_tokens": 0]) }, "invalid_field")
        XCTAssertEqual(code { try self.query(["image": Self.png.base64EncodedString(), "question": "What?", "top_logprobs": 99]) }, "invalid_field")
        XCTAssertEqual(code { try self.query(["question": "What?"]) }, "missing_image", "the code a multipart body gets")
        XCTAssertEqual(code { try self.query(["image": Self.png.base64EncodedString()]) }, "missing_question")
        XCTAssertEqual(code { try self.query(["image": 7, "question": "What?"]) }, "invalid_json")

        let boundary = "b0undary"
        var form = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"question\"\r\n\r\nWhat colour?\r\n".utf8)
        form += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n".utf8)
        form += Self.png + Data("\r\n--\(boundary)--\r\n".utf8)
        let multipart = try QueryInput.parse(HTTPRequest(method: .post, uri: "/v1/answer",
                                                         headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"], body: form),
                                             rules: Self.rules)
        XCTAssertEqual(multipart.question, "What colour?")
        XCTAssertEqual(multipart.image.width, 32)
        let noImage = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"question\"\r\n\r\nWhat?\r\n--\(boundary)--\r\n".utf8)
        XCTAssertEqual(code {
            try QueryInput.parse(HTTPRequest(method: .post, uri: "/v1/answer", headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"],
                                             body: noImage), rules: Self.rules)
        }, "missing_image")
    }

    func testAQueryFollowsTheSameQuestionRules() {
        func query(_ question: String) -> String? {
            code {
                let body = try JSONSerialization.data(withJSONObject: ["image": Self.png.base64EncodedString(), "question": question])
                return try QueryInput.parse(HTTPRequest(method: .post, uri: "/v1/answer", headers: ["Content-Type": "application/json"],
                                                        body: body), rules: Self.rules)
            }
        }
        XCTAssertNil(query("What colour is it?"))
        XCTAssertEqual(query(""), "invalid_question")
        XCTAssertEqual(query(String(repeating: "ab ", count: 300)), "question_too_long")
        XCTAssertEqual(query("a" + String(repeating: "\u{0301}", count: 5000)), "question_too_long")
    }
}
