import Foundation
import XCTest
@testable import HTTP

final class StaticFilesTests: XCTestCase {
    private var directory: URL!
    private var files: StaticFiles!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("static-\(UUID().uuidString)")
        let publicDirectory = directory.appendingPathComponent("public")
        try FileManager.default.createDirectory(at: publicDirectory.appendingPathComponent("docs"),
                                                withIntermediateDirectories: true)
        try Data("<h1>Mneme</h1>".utf8).write(to: publicDirectory.appendingPathComponent("index.html"))
        try Data("console.log(1)".utf8).write(to: publicDirectory.appendingPathComponent("app.js"))
        try Data("<h1>docs</h1>".utf8).write(to: publicDirectory.appendingPathComponent("docs/index.html"))
        try Data("{}".utf8).write(to: publicDirectory.appendingPathComponent("openapi.json"))
        try Data("token".utf8).write(to: publicDirectory.appendingPathComponent(".env"))
        try Data("top secret".utf8).write(to: directory.appendingPathComponent("secret.txt"))
        try FileManager.default.createSymbolicLink(at: publicDirectory.appendingPathComponent("escape.txt"),
                                                   withDestinationURL: directory.appendingPathComponent("secret.txt"))
        files = StaticFiles(root: publicDirectory)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func get(_ path: String, method: HTTPMethod = .get) -> Result<HTTPResponse, HTTPError> {
        Result { () throws(HTTPError) in try files.respond(to: HTTPRequest(method: method, path: path)) }
    }

    func testServesFilesWithTheirTypesAndIndexForDirectories() throws {
        let index = try get("/").get()
        XCTAssertEqual(index.text, "<h1>Mneme</h1>")
        XCTAssertEqual(index.headers["Content-Type"], "text/html; charset=utf-8")
        XCTAssertEqual(index.headers["X-Content-Type-Options"], "nosniff")
        XCTAssertEqual(try get("/app.js").get().headers["Content-Type"], "text/javascript; charset=utf-8")
        XCTAssertEqual(try get("/openapi.json").get().headers["Content-Type"], "application/json; charset=utf-8")
        XCTAssertEqual(try get("/docs").get().text, "<h1>docs</h1>")
        XCTAssertEqual(try get("/docs/").get().text, "<h1>docs</h1>")
        XCTAssertEqual(try get("/app.js", method: .head).get().status, .ok)
    }

    func testTraversalAttemptsNeverLeaveTheRoot() {
        // Paths as the server hands them over (already percent-decoded once) and still-encoded ones.
        let attempts = ["/../secret.txt", "/docs/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
                        "/docs/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/..\\secret.txt", "/docs/..",
                        "/./app.js", "/app.js\0.png", "//../secret.txt", "relative/app.js"]
        for path in attempts {
            guard case .failure(let error) = get(path) else {
                return XCTFail("\(path.debugDescription) was served")
            }
            XCTAssertEqual(error.status, .badRequest, path.debugDescription)
            XCTAssertEqual(error.code, "invalid_path", path.debugDescription)
        }
        // Also after the request-target decoding HTTPRequest(uri:) does.
        let decoded = HTTPRequest(method: .get, uri: "/%2e%2e/secret.txt")
        XCTAssertThrowsError(try files.respond(to: decoded))
    }

    func testHiddenAbsoluteSymlinkedAndMissingFilesAre404() {
        for path in ["/.env", "/docs/.env", "//etc/passwd", "/etc/passwd", "/escape.txt", "/nope.html", "/docs/nope"] {
            guard case .failure(let error) = get(path) else {
                return XCTFail("\(path) was served")
            }
            XCTAssertEqual(error.status, .notFound, path)
        }
    }

    func testOtherMethodsAre405() {
        guard case .failure(let error) = get("/app.js", method: .post) else { return XCTFail("POST served") }
        XCTAssertEqual(error.status, .methodNotAllowed)
        XCTAssertEqual(error.headers["Allow"], "GET, HEAD")
    }

    func testRouterFallbackServesFilesAndJSON404s() async {
        var router = Router(logger: quietLogger())
        router.get("/v1/health") { _, _ in .text("ok") }
        router.serveStaticFiles(files)
        let page = await router.respond(to: HTTPRequest(method: .get, uri: "/"))
        XCTAssertEqual(page.text, "<h1>Mneme</h1>")
        let missing = await router.respond(to: HTTPRequest(method: .get, uri: "/v1/unknown"))
        XCTAssertEqual(missing.status, .notFound)
        XCTAssertEqual(missing.errorBody?.code, "not_found")
        let traversal = await router.respond(to: HTTPRequest(method: .get, path: "/../secret.txt"))
        XCTAssertEqual(traversal.status, .badRequest)
        XCTAssertFalse(traversal.text.contains("top secret"))
    }
}
