import Foundation
import HTTP
import Logging
import XCTest
@testable import Server

/// The answer routes in-process, without a socket, on a tiny fixture model.
final class AnswerRouteTests: XCTestCase {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/mha_untied_default_m2_f32")
    static let imageData = try! Data(contentsOf: model.appendingPathComponent("image.png"))

    var server: MnemeServer!
    var router: Router!

    override func setUpWithError() throws {
        var configuration = ServerConfiguration(dataDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("mneme-\(UUID())"),
                                                modelDirectory: Self.model)
        configuration.port = 0
        server = try MnemeServer(configuration: configuration, logger: Logger(label: "test"))
        try server.start()
        router = Routes.makeRouter(context: server.context, publicDirectory: nil)
    }

    override func tearDown() {
        server.stop()
        try? FileManager.default.removeItem(at: server.configuration.dataDirectory)
    }

    func json(_ object: [String: Any]) -> Data { try! JSONSerialization.data(withJSONObject: object) }

    func post(_ path: String, _ body: Data, type: String = "application/json") async -> (Int, [String: Any]) {
        let response = await router.respond(to: HTTPRequest(method: .post, uri: path, headers: ["Content-Type": type], body: body))
        let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:]
        return (Int(response.status.code), object)
    }

    func errorCode(_ object: [String: Any]) -> String? { (object["error"] as? [String: Any])?["code"] as? String }

    func testAnswerFromJSONAndMultipartAgree() async throws {
        let (status, body) = await post("/v1/answer", json(["image": Self.imageData.base64EncodedString(), "question": "What colour is the circle?",
                                                             "max_new_tokens": 4, "top_logprobs": 2]))
        XCTAssertEqual(status, 200, "\(body)")
        XCTAssertEqual(body["snapshot"] as? String, server.activeSnapshot)
        XCTAssertEqual(body["task"] as? String, "base")
        XCTAssertEqual((body["token_ids"] as? [Int])?.count, 4)
        XCTAssertEqual((body["top_logprobs"] as? [[Any]])?.first?.count, 2)
        let first = try XCTUnwrap((body["top_logprobs"] as? [[[String: Any]]])?.first?.first)
        XCTAssertNotNil(first["token"] as? String, "each candidate carries its text with its id: \(first)")
        let boundary = "XyZ"
        var form = Data()
        form.append("--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n".data(using: .utf8)!)
        form.append(Self.imageData)
        form.append("\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"question\"\r\n\r\nWhat colour is the circle?\r\n".data(using: .utf8)!)
        form.append("--\(boundary)\r\nContent-Disposition: form-data; name=\"max_new_tokens\"\r\n\r\n4\r\n--\(boundary)--\r\n".data(using: .utf8)!)
        let (multipartStatus, multipart) = await post("/v1/answer", form, type: "multipart/form-data; boundary=\(boundary)")
        XCTAssertEqual(multipartStatus, 200, "\(multipart)")
        XCTAssertEqual(multipart["token_ids"] as? [Int], body["token_ids"] as? [Int])
    }

    func testBadInputGetsClearClientErrors() async throws {
        let image = Self.imageData.base64EncodedString()
        let cases: [(Data, String, Int, String)] = [
            (json(["image": "aGVsbG8=", "question": "x"]), "application/json", 400, "invalid_image"),
            (json(["image": Data().base64EncodedString(), "question": "x"]), "application/json", 400, "invalid_image"),
            (json(["image": Self.imageData.prefix(100).base64EncodedString(), "question": "x"]), "application/json", 400, "invalid_image"),
            (json(["image": "%%%", "question": "x"]), "application/json", 400, "invalid_image"),
            (json(["image": image, "question": "   "]), "application/json", 400, "invalid_question"),
            (json(["image": image, "question": String(repeating: "a", count: 5000)]), "application/json", 400, "question_too_long"),
            (json(["image": image, "question": "x", "max_new_tokens": 0]), "application/json", 400, "invalid_field"),
            (json(["image": image, "question": "x", "top_logprobs": 99]), "application/json", 400, "invalid_field"),
            (json(["image": image, "question": 5]), "application/json", 400, "invalid_json"),
            (Data("{\"image\": ".utf8), "application/json", 400, "invalid_json"),
            (Data(String(repeating: "[", count: 100).utf8), "application/json", 400, "json_too_deep"),
            (json(["image": image, "question": "x"]), "text/plain", 415, "unsupported_media_type"),
            (json(["image": image, "question": "x", "snapshot": "missing"]), "application/json", 404, "snapshot_not_found"),
            (json(["image": image, "question": "x", "task": "missing"]), "application/json", 404, "task_not_found"),
        ]
        for (body, type, status, code) in cases {
            let (got, response) = await post("/v1/answer", body, type: type)
            XCTAssertEqual(got, status, "\(response)")
            XCTAssertEqual(errorCode(response), code, "\(response)")
            XCTAssertNotNil((response["error"] as? [String: Any])?["message"] as? String)
        }
        // Still answering afterwards.
        let (status, _) = await post("/v1/answer", json(["image": image, "question": "x"]))
        XCTAssertEqual(status, 200)
    }

    func testHugeImageIsRefusedFromItsHeader() async throws {
        // Files whose headers claim 100000 × 100000 (PNG) and 65000 × 65000 (JPEG): refused before any decoding.
        let images = Self.model.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("images")
        for name in ["bomb_100000x100000.png", "bomb_65000x65000.jpg"] {
            let bomb = try Data(contentsOf: images.appendingPathComponent(name))
            let (status, body) = await post("/v1/answer", json(["image": bomb.base64EncodedString(), "question": "x"]))
            XCTAssertEqual(status, 413, "\(name): \(body)")
            XCTAssertEqual(errorCode(body), "image_too_large")
        }
    }

    func testCompareAnswersEachNamedSnapshot() async throws {
        let (status, body) = await post("/v1/compare", json(["image": Self.imageData.base64EncodedString(), "question": "What?",
                                                              "snapshots": [server.activeSnapshot!, server.activeSnapshot!], "max_new_tokens": 3]))
        XCTAssertEqual(status, 200, "\(body)")
        let results = try XCTUnwrap(body["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, 2)
        XCTAssertEqual(results[0]["token_ids"] as? [Int], results[1]["token_ids"] as? [Int])
        let (missing, error) = await post("/v1/compare", json(["image": Self.imageData.base64EncodedString(), "question": "What?"]))
        XCTAssertEqual(missing, 400)
        XCTAssertEqual(errorCode(error), "invalid_field")
    }

    func testHealthReadinessMetricsAndMethodErrors() async throws {
        let health = await router.respond(to: HTTPRequest(method: .get, uri: "/healthz"))
        XCTAssertEqual(health.status, .ok)
        let ready = await router.respond(to: HTTPRequest(method: .get, uri: "/readyz"))
        XCTAssertEqual(ready.status, .ok)
        let wrongMethod = await router.respond(to: HTTPRequest(method: .get, uri: "/v1/answer"))
        XCTAssertEqual(wrongMethod.status.code, 405)
        let unknown = await router.respond(to: HTTPRequest(method: .get, uri: "/v1/nothing"))
        XCTAssertEqual(unknown.status.code, 404)
        _ = await post("/v1/answer", Data("{}".utf8))
        let metrics = await router.respond(to: HTTPRequest(method: .get, uri: "/metrics"))
        let text = String(decoding: metrics.body, as: UTF8.self)
        XCTAssertTrue(text.contains(#"mneme_http_requests_total{route="/v1/answer",method="POST",status="400"} 1"#), text)
        XCTAssertTrue(text.contains("mneme_inference_queue_depth"), text)
    }
}

extension AnswerRouteTests {
    /// A failed job's reason, readable without a token, names no path of the server's file system.
    func testJobErrorsDoNotNameTheDataDirectory() async throws {
        let store = try server.context.requireStore()
        server.context.tuner?.stop()
        let (_, job) = try store.createTask(name: "leaky", items: [.init(image: Self.imageData, question: "What?", answer: "red")])
        let path = store.directory.appendingPathComponent("tasks/x/images/000001.png").path
        try store.failJob(job.id, reason: "cannot read \(path): no such file")
        for route in ["/v1/jobs", "/v1/jobs/\(job.id)"] {
            let response = await router.respond(to: HTTPRequest(method: .get, uri: route))
            let text = String(decoding: response.body, as: UTF8.self)
            XCTAssertFalse(text.contains(store.directory.path), text)
            XCTAssertTrue(text.contains("cannot read <data>/tasks/x/images/000001.png"), text)
        }
    }
}
