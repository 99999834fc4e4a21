import Foundation
import Logging
import XCTest
@testable import HTTP

final class RouterTests: XCTestCase {
    private struct Item: Codable { let image: String; let question: String }
    private struct Push: Codable { let name: String; let items: [Item] }

    private func makeRouter(logger: Logger? = nil) -> Router {
        var router = logger.map { Router(logger: $0) } ?? Router(logger: quietLogger())
        router.get("/v1/snapshots") { _, _ in .text("list") }
        router.get("/v1/snapshots/{id}") { _, parameters in .text("snapshot \(parameters["id"]!)") }
        router.post("/v1/snapshots/{id}/promote") { _, parameters in
            try .json(["active": parameters.require("id")])
        }
        router.get("/v1/tasks/current") { _, _ in .text("current task") }
        router.get("/v1/tasks/{id}") { _, parameters in .text("task \(parameters["id"]!)") }
        router.delete("/v1/tasks/{id}") { _, _ in .empty() }
        router.get("/files/{path...}") { _, parameters in .text("file [\(parameters["path"]!)]") }
        router.post("/v1/tasks") { request, _ in
            // Decoded with a plain JSONDecoder on purpose: the router maps its DecodingError.
            let push = try JSONDecoder().decode(Push.self, from: request.body)
            return try .json(["name": push.name, "items": String(push.items.count)], status: .accepted)
        }
        router.get("/conflict") { _, _ in throw HTTPError.conflict("snapshot s1 is already active", code: "already_active") }
        router.get("/crash") { _, _ in
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: "/secret/path"])
        }
        router.get("/cancelled") { _, _ in throw CancellationError() }
        return router
    }

    func testPathParametersArePassedToHandlers() async throws {
        let router = makeRouter()
        var response = await router.respond(to: HTTPRequest(method: .get, uri: "/v1/snapshots/s-42"))
        XCTAssertEqual(response.text, "snapshot s-42")

        response = await router.respond(to: HTTPRequest(method: .post, uri: "/v1/snapshots/a%20b/promote"))
        XCTAssertEqual(response.status, .ok)
        XCTAssertEqual(response.headers["content-type"], "application/json; charset=utf-8")
        XCTAssertEqual(try JSONSerialization.jsonObject(with: response.body) as? [String: String], ["active": "a b"])

        response = await router.respond(to: HTTPRequest(method: .get, uri: "/files/css/site.css"))
        XCTAssertEqual(response.text, "file [css/site.css]")
        response = await router.respond(to: HTTPRequest(method: .get, uri: "/files"))
        XCTAssertEqual(response.text, "file []")
    }

    func testLiteralSegmentsWinOverParametersAndTrailingSlashIsIgnored() async {
        let router = makeRouter()
        let current = await router.respond(to: HTTPRequest(method: .get, uri: "/v1/tasks/current"))
        XCTAssertEqual(current.text, "current task")
        let other = await router.respond(to: HTTPRequest(method: .get, uri: "/v1/tasks/7/"))
        XCTAssertEqual(other.text, "task 7")
        let list = await router.respond(to: HTTPRequest(method: .get, uri: "/v1/snapshots/"))
        XCTAssertEqual(list.text, "list")
    }

    func testUnknownPathIsJSON404() async {
        let response = await makeRouter().respond(to: HTTPRequest(method: .get, uri: "/v1/nothing/here"))
        XCTAssertEqual(response.status, .notFound)
        XCTAssertEqual(response.headers["Content-Type"], "application/json; charset=utf-8")
        XCTAssertEqual(response.errorBody?.code, "not_found")
        XCTAssertTrue(response.errorBody?.message.contains("/v1/nothing/here") ?? false)
        // Exactly the documented shape: one "error" object with "code" and "message".
        let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: [String: String]]
        XCTAssertEqual(object?.keys.sorted(), ["error"])
        XCTAssertEqual(object?["error"]?.keys.sorted(), ["code", "message"])
    }

    func testWrongMethodIs405WithAllowHeader() async {
        let router = makeRouter()
        var response = await router.respond(to: HTTPRequest(method: .put, uri: "/v1/tasks/7"))
        XCTAssertEqual(response.status, .methodNotAllowed)
        XCTAssertEqual(response.errorBody?.code, "method_not_allowed")
        XCTAssertEqual(Set(response.headers["Allow"]!.components(separatedBy: ", ")), ["GET", "DELETE", "HEAD"])

        response = await router.respond(to: HTTPRequest(method: .get, uri: "/v1/snapshots/s1/promote"))
        XCTAssertEqual(response.status, .methodNotAllowed)
        XCTAssertEqual(response.headers["Allow"], "POST")
    }

    func testHeadUsesTheGetHandler() async {
        let response = await makeRouter().respond(to: HTTPRequest(method: .head, uri: "/v1/snapshots/s1"))
        XCTAssertEqual(response.status, .ok)
        XCTAssertEqual(response.text, "snapshot s1")  // the server drops the body for HEAD
    }

    func testHTTPErrorIsSentAsItIs() async {
        let response = await makeRouter().respond(to: HTTPRequest(method: .get, uri: "/conflict"))
        XCTAssertEqual(response.status, .conflict)
        XCTAssertEqual(response.errorBody?.code, "already_active")
        XCTAssertEqual(response.errorBody?.message, "snapshot s1 is already active")
    }

    func testDecodingErrorBecomes400NamingTheField() async {
        let router = makeRouter()
        let wrongType = #"{"name": "shapes", "items": [{"image": "a", "question": "q"}, {"image": 7, "question": "q"}]}"#
        var response = await router.respond(to: HTTPRequest(method: .post, uri: "/v1/tasks", body: Data(wrongType.utf8)))
        XCTAssertEqual(response.status, .badRequest)
        XCTAssertEqual(response.errorBody?.code, "invalid_json")
        XCTAssertTrue(response.errorBody?.message.contains("items[1].image") ?? false, response.text)

        let missing = #"{"name": "shapes", "items": [{"image": "a"}]}"#
        response = await router.respond(to: HTTPRequest(method: .post, uri: "/v1/tasks", body: Data(missing.utf8)))
        XCTAssertEqual(response.status, .badRequest)
        XCTAssertTrue(response.errorBody?.message.contains("items[0].question") ?? false, response.text)

        let valid = #"{"name": "shapes", "items": []}"#
        response = await router.respond(to: HTTPRequest(method: .post, uri: "/v1/tasks", body: Data(valid.utf8)))
        XCTAssertEqual(response.status, .accepted)
    }

    func testOtherErrorsBecomeGeneric500AndAreLogged() async {
        let (logger, log) = CapturingLogHandler.logger()
        let response = await makeRouter(logger: logger).respond(to: HTTPRequest(method: .get, uri: "/crash"))
        XCTAssertEqual(response.status, .internalServerError)
        XCTAssertEqual(response.errorBody?.code, "internal_error")
        XCTAssertFalse(response.text.contains("secret"), "internal details must not reach the client")
        let errors = log.all.filter { $0.0 == .error }
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue(errors.first?.1.contains("/crash") ?? false)
        XCTAssertTrue(errors.first?.1.contains("secret/path") ?? false, "the log keeps the details")
    }

    func testCancellationBecomes503() async {
        let response = await makeRouter().respond(to: HTTPRequest(method: .get, uri: "/cancelled"))
        XCTAssertEqual(response.status, .serviceUnavailable)
    }

    func testFallbackAnswersUnmatchedPaths() async {
        var router = makeRouter()
        router.fallback = { request, _ in .text("fallback for \(request.path)") }
        let response = await router.respond(to: HTTPRequest(method: .get, uri: "/index.html"))
        XCTAssertEqual(response.text, "fallback for /index.html")
        // Known paths keep their 405 rather than falling through.
        let wrongMethod = await router.respond(to: HTTPRequest(method: .post, uri: "/v1/snapshots"))
        XCTAssertEqual(wrongMethod.status, .methodNotAllowed)
    }

    func testRequestURIParsingDecodesPathAndQuery() {
        let request = HTTPRequest(method: .get, uri: "/a%2Fb/c?limit=5&q=two+words&q=second&flag&x=%26")
        XCTAssertEqual(request.path, "/a/b/c")
        XCTAssertEqual(request.query, ["limit": "5", "q": "two words", "flag": "", "x": "&"])
        XCTAssertEqual(request.queryItems.filter { $0.name == "q" }.map(\.value), ["two words", "second"])
    }

    func testHeadersAreCaseInsensitiveAndKeepRepeats() {
        var headers: HTTPHeaders = ["Content-Type": "application/json", "X-Tag": "a"]
        headers.add(name: "x-tag", value: "b")
        XCTAssertEqual(headers["content-TYPE"], "application/json")
        XCTAssertEqual(headers.values(for: "X-TAG"), ["a", "b"])
        headers["X-Tag"] = "c"
        XCTAssertEqual(headers.values(for: "x-tag"), ["c"])
        headers["x-tag"] = nil
        XCTAssertFalse(headers.contains("X-Tag"))
        XCTAssertEqual(headers.count, 1)
    }

    func testResponseHelpers() throws {
        let object = try HTTPResponse.json(object: ["accuracy": ["colour": 0.5], "active": "s1"], status: .created)
        XCTAssertEqual(object.status, .created)
        XCTAssertEqual(object.text, #"{"accuracy":{"colour":0.5},"active":"s1"}"#)
        XCTAssertThrowsError(try HTTPResponse.json(object: Date()))
        let text = HTTPResponse.text("# HELP x\n", contentType: "text/plain; version=0.0.4")
        XCTAssertEqual(text.headers["Content-Type"], "text/plain; version=0.0.4")
        let error = HTTPError.contentTooLarge(limit: 10).response
        XCTAssertEqual(error.status, .contentTooLarge)
        XCTAssertEqual(error.errorBody?.code, "body_too_large")
    }
}
