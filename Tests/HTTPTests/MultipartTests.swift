import Foundation
import XCTest
@testable import HTTP

final class MultipartTests: XCTestCase {
    private let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"

    /// Binary image bytes that contain CR, LF, dashes and a near-miss of the delimiter.
    private let imageBytes = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0xFF])
        + Data("\r\n------WebKitFormBoundary7MA4YWxkTrZu0gX\r\n--\r\n".utf8) + Data([0x0D, 0x0D, 0x0A])

    /// A body laid out the way browsers send it (written out by hand, not by the code under test).
    private func browserBody() -> Data {
        var body = Data()
        body += Data("------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n".utf8)
        body += Data("Content-Disposition: form-data; name=\"question\"\r\n\r\n".utf8)
        body += Data("what colour is the shape?\r\n".utf8)
        body += Data("------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n".utf8)
        body += Data("Content-Disposition: form-data; name=\"image\"; filename=\"red circle.png\"\r\n".utf8)
        body += Data("Content-Type: image/png\r\n\r\n".utf8)
        body += imageBytes
        body += Data("\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n".utf8)
        body += Data("Content-Disposition: form-data; name=\"empty\"\r\n\r\n".utf8)
        body += Data("\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n".utf8)
        return body
    }

    private func request(_ body: Data, contentType: String? = nil) -> HTTPRequest {
        HTTPRequest(method: .post, path: "/v1/answer",
                    headers: ["Content-Type": contentType ?? "multipart/form-data; boundary=\(boundary)"], body: body)
    }

    private func parseError(_ body: String, boundary: String = "XyZ") -> HTTPError? {
        do {
            _ = try MultipartFormData.parse(Data(body.utf8), boundary: boundary)
            return nil
        } catch {
            return error
        }
    }

    func testBrowserStyleBody() throws {
        let form = try request(browserBody()).multipartFormData()
        XCTAssertEqual(form.parts.map(\.name), ["question", "image", "empty"])
        XCTAssertEqual(form["question"]?.text, "what colour is the shape?")
        XCTAssertNil(form["question"]?.filename)
        XCTAssertNil(form["question"]?.contentType)
        XCTAssertEqual(form["image"]?.filename, "red circle.png")
        XCTAssertEqual(form["image"]?.contentType, "image/png")
        XCTAssertEqual(form["image"]?.data, imageBytes)
        XCTAssertEqual(form["empty"]?.data, Data())
    }

    func testPreambleEpiloguePaddingQuotedBoundaryAndExtendedFilename() throws {
        let body = "This is the preamble.\r\n--simple boundary \t\r\n"
            + "Content-Disposition: form-data; name=\"manifest\"; filename*=UTF-8''%C3%A9t%C3%A9.jsonl\r\n"
            + "content-type: application/jsonl\r\n\r\n{\"a\": 1}\n{\"a\": 2}\n"
            + "\r\n--simple boundary\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1"
            + "\r\n--simple boundary--\r\nThis is the epilogue, ignored."
        let form = try request(Data(body.utf8), contentType: "Multipart/Form-Data; boundary=\"simple boundary\"")
            .multipartFormData()
        XCTAssertEqual(form.parts.count, 2)
        XCTAssertEqual(form["manifest"]?.filename, "été.jsonl")
        XCTAssertEqual(form["manifest"]?.contentType, "application/jsonl")
        XCTAssertEqual(form["manifest"]?.text, "{\"a\": 1}\n{\"a\": 2}\n")
        XCTAssertEqual(form["x"]?.text, "1")
    }

    func testRepeatedNamesAreKept() throws {
        var body = ""
        for index in 0..<3 {
            body += "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"\(index).png\"\r\n\r\n\(index)\r\n"
        }
        body += "--XyZ--"
        let form = try MultipartFormData.parse(Data(body.utf8), boundary: "XyZ")
        XCTAssertEqual(form.parts(named: "image").compactMap(\.filename), ["0.png", "1.png", "2.png"])
    }

    func testWrongContentTypeIs415AndMissingBoundaryIs400() {
        XCTAssertThrowsError(try request(browserBody(), contentType: "application/json").multipartFormData()) { error in
            XCTAssertEqual((error as? HTTPError)?.status, .unsupportedMediaType)
        }
        XCTAssertThrowsError(try request(browserBody(), contentType: "multipart/form-data").multipartFormData()) { error in
            XCTAssertEqual((error as? HTTPError)?.status, .badRequest)
            XCTAssertTrue((error as? HTTPError)?.message.contains("boundary") ?? false)
        }
    }

    func testMalformedBodiesAre400sSayingWhatIsWrong() {
        let disposition = "Content-Disposition: form-data; name=\"a\"\r\n\r\n"
        let cases: [(String, String)] = [
            ("no boundary in here", "not found"),
            ("--XyZ\r\n\(disposition)value without an end", "without the closing boundary"),
            ("--XyZ\r\n\(disposition)v\r\n--XyZ", "ends without the closing boundary"),
            ("--XyZ garbage\r\n\(disposition)v\r\n--XyZ--", "not followed by a line break"),
            ("--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--", "part 1 has no Content-Disposition"),
            ("--XyZ\r\n\(disposition)v\r\n--XyZ\r\nContent-Disposition: form-data; filename=\"f\"\r\n\r\nv\r\n--XyZ--",
             "part 2 has no name"),
            ("--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--XyZ--", "malformed Content-Disposition"),
            ("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--XyZ--", "malformed Content-Disposition"),
            ("--XyZ\r\nthis line has no colon\r\n\r\nv\r\n--XyZ--", "malformed header line"),
            ("--XyZ\r\nContent-Disposition: form-data; name=\"a\"", "not terminated"),
        ]
        for (body, expected) in cases {
            let error = parseError(body)
            XCTAssertEqual(error?.status, .badRequest, body)
            XCTAssertEqual(error?.code, "invalid_multipart", body)
            XCTAssertTrue(error?.message.contains(expected) ?? false, "\(body.debugDescription): \(error?.message ?? "no error")")
        }
        XCTAssertTrue(parseError("--a\r\n", boundary: String(repeating: "a", count: 71))?.message.contains("boundary") ?? false)
        XCTAssertTrue(parseError("--a\r\n", boundary: "bad\rboundary")?.message.contains("boundary") ?? false)
    }

    func testPartAndHeaderLimits() {
        var body = ""
        for _ in 0..<5 { body += "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n" }
        body += "--XyZ--"
        XCTAssertThrowsError(try MultipartFormData.parse(Data(body.utf8), boundary: "XyZ", limits: .init(maxParts: 4))) {
            XCTAssertTrue(($0 as? HTTPError)?.message.contains("more than 4 parts") ?? false)
        }
        let longHeader = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Long: \(String(repeating: "x", count: 200))\r\n\r\nv\r\n--XyZ--"
        XCTAssertThrowsError(try MultipartFormData.parse(Data(longHeader.utf8), boundary: "XyZ", limits: .init(maxHeaderBytes: 100))) {
            XCTAssertTrue(($0 as? HTTPError)?.message.contains("exceed 100 bytes") ?? false)
        }
    }

    func testLargeBodyFullOfNearMissesParsesInLinearTime() throws {
        // 4 MB of data made of delimiter prefixes that fail at every possible position: a parser that
        // rescans would be quadratic here.
        let boundary = "abcdefghijklmnopqrstuvwxyz0123456789"
        var unit = Data()
        for cut in 1..<(boundary.count + 4) { unit += Data("\r\n--\(boundary)".utf8.prefix(cut)) + Data("!".utf8) }
        var payload = Data()
        while payload.count < 4 << 20 { payload += unit }
        let body = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"blob\"\r\n\r\n".utf8)
            + payload + Data("\r\n--\(boundary)--\r\n".utf8)
        let start = ContinuousClock.now
        let form = try MultipartFormData.parse(body, boundary: boundary)
        let elapsed = ContinuousClock.now - start
        XCTAssertEqual(form["blob"]?.data, payload)
        XCTAssertLessThan(elapsed, .seconds(2), "took \(elapsed)")
    }

    func testContentTypeRequirement() throws {
        let json = HTTPRequest(method: .post, path: "/", headers: ["Content-Type": "application/json; charset=utf-8"])
        XCTAssertEqual(try json.requireContentType(["application/json", "multipart/form-data"]).essence, "application/json")

        let image = HTTPRequest(method: .post, path: "/", headers: ["content-type": "IMAGE/PNG"])
        XCTAssertEqual(try image.requireContentType(["image/*"]).subtype, "png")

        for headers: HTTPHeaders in [["Content-Type": "text/plain"], [:], ["Content-Type": "not a type"]] {
            let request = HTTPRequest(method: .post, path: "/", headers: headers)
            XCTAssertThrowsError(try request.requireContentType(["application/json", "multipart/form-data"])) { error in
                let error = error as? HTTPError
                XCTAssertEqual(error?.status, .unsupportedMediaType)
                XCTAssertEqual(error?.code, "unsupported_media_type")
                XCTAssertTrue(error?.message.contains("application/json, multipart/form-data") ?? false)
            }
        }
    }

    func testMediaTypeParsing() {
        let type = MediaType(parsing: #"multipart/form-data; boundary="a;b\"c"; charset=UTF-8"#)
        XCTAssertEqual(type?.essence, "multipart/form-data")
        XCTAssertEqual(type?.parameters["boundary"], "a;b\"c")
        XCTAssertEqual(type?.parameters["charset"], "UTF-8")
        XCTAssertNil(MediaType(parsing: "text"))
        XCTAssertNil(MediaType(parsing: "text/plain; charset"))
        XCTAssertNil(MediaType(parsing: #"text/plain; a="unterminated"#))
    }
}
