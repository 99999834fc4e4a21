import Foundation
import Imaging
import Synchronization
import TestSupport
import XCTest

/// Inputs that once stopped or starved the real server: each gets a 4xx and the server keeps answering.
final class HardeningTests: XCTestCase {
    var scratch: URL!
    var server: MnemeProcess!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-hard-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        server = try MnemeProcess(data: scratch.appendingPathComponent("data"))
    }

    override func tearDown() {
        server?.stop()
        try? FileManager.default.removeItem(at: scratch)
    }

    private func code(_ object: [String: Any]) -> String? { (object["error"] as? [String: Any])?["code"] as? String }

    private func push(_ name: String, question: String = "What colour is it?", items: Int = 8) -> [String: Any] {
        var body = ServerLifecycleTests.push(name, answer: "red", items: items)
        body["items"] = (body["items"] as! [[String: Any]]).map { $0.merging(["question": question]) { $1 } }
        return body
    }

    /// A question within the old character limit but beyond the model's positions once tokenized: the push
    /// stopped the process in training (RoPE beyond its positions), every restart again. Now the push and the
    /// query are refused by the same rule, and nothing is stored.
    func testAQuestionBeyondTheModelsPositionsIsRefusedAtPushAndQuery() throws {
        for question in [String(repeating: "a", count: 1000), String(repeating: "文", count: 1000)] {
            let pushed = try server.request("POST", "/v1/tasks", json: push("long", question: question))
            XCTAssertEqual(pushed.status, 400, "\(pushed.object)")
            XCTAssertEqual(code(pushed.object), "question_too_long", "\(pushed.object)")
            let message = (pushed.object["error"] as? [String: Any])?["message"] as? String ?? ""
            XCTAssertTrue(message.contains("items[0].question") && message.contains("positions"), message)
            let asked = try server.request("POST", "/v1/answer", json: ServerLifecycleTests.query.merging(["question": question]) { $1 })
            XCTAssertEqual(asked.status, 400, "\(asked.object)")
            XCTAssertEqual(code(asked.object), "question_too_long")
        }
        XCTAssertEqual((try server.request("GET", "/v1/tasks").object["tasks"] as? [Any])?.count, 0, "nothing was stored")
        XCTAssertEqual(try server.request("POST", "/v1/answer", json: ServerLifecycleTests.query).status, 200)
        XCTAssertTrue(server.process.isRunning)
    }

    /// One grapheme cluster of 1.6 million combining marks (3.2 MB) took 3.4 GB to tokenize. Bytes are
    /// counted before the tokenizer sees the text: the refusal is quick and costs no memory.
    func testACombiningMarkFloodIsRefusedBeforeTokenizing() throws {
        let idle = try peakResidentMegabytes()
        let question = "a" + String(repeating: "\u{0301}", count: 1_600_000)
        let start = Date()
        let asked = try server.request("POST", "/v1/answer", json: ServerLifecycleTests.query.merging(["question": question]) { $1 })
        XCTAssertEqual(asked.status, 400, "\(asked.object)")
        XCTAssertEqual(code(asked.object), "question_too_long")
        let pushed = try server.request("POST", "/v1/tasks", json: push("marks", question: question, items: 1))
        XCTAssertEqual(pushed.status, 400, "\(pushed.object)")
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        let peak = try peakResidentMegabytes()
        XCTAssertLessThan(peak - idle, 150, "peak memory grew from \(idle) MB to \(peak) MB")
        XCTAssertEqual(try server.request("POST", "/v1/answer", json: ServerLifecycleTests.query).status, 200)
    }

    /// Names are compared as stored (trimmed, any kind of space), and concurrent pushes of one name give one task.
    func testATaskNameIsTakenOnceWhateverItsSpacesAndHowManyAskAtOnce() throws {
        XCTAssertEqual(try server.request("POST", "/v1/tasks", json: push("dupseq")).status, 202)
        for variant in ["dupseq ", "\u{00A0}dupseq\u{00A0}", "\tdupseq\n"] {
            let again = try server.request("POST", "/v1/tasks", json: push(variant))
            XCTAssertEqual(again.status, 409, "\(variant.debugDescription): \(again.object)")
            XCTAssertEqual(code(again.object), "task_exists")
        }
        let statuses = Mutex<[Int]>([])
        let body = try JSONSerialization.data(withJSONObject: push("racer"))
        let server: MnemeProcess = self.server
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let status = (try? server.request("POST", "/v1/tasks", body: body, contentType: "application/json").status) ?? -1
            statuses.withLock { $0.append(status) }
        }
        XCTAssertEqual(statuses.withLock { $0.sorted() }, [202] + Array(repeating: 409, count: 7))
        let names = (try server.request("GET", "/v1/tasks").object["tasks"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        XCTAssertEqual(names?.sorted(), ["dupseq", "racer"])
    }

    /// Requests any web page may send without a preflight (a `text/plain` rollback, a multipart push), or sent
    /// to a rebound DNS name, are refused before they change anything; the same write from the server's own
    /// origin goes through.
    func testWritesFromOtherSitesAreRefused() throws {
        let body = Data("{}".utf8)
        let foreign = try server.request("POST", "/v1/rollback", body: body, contentType: "text/plain",
                                         headers: ["Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"])
        XCTAssertEqual(foreign.status, 403, "\(foreign.object)")
        XCTAssertEqual(code(foreign.object), "foreign_origin")
        let rebound = try server.request("POST", "/v1/tasks", json: push("rebound"), headers: ["Host": "attacker.example"])
        XCTAssertEqual(rebound.status, 403, "\(rebound.object)")
        XCTAssertEqual(code(rebound.object), "foreign_host")
        XCTAssertEqual((try server.request("GET", "/v1/tasks").object["tasks"] as? [Any])?.count, 0, "nothing was stored")
        let own = try server.request("POST", "/v1/tasks", json: push("own"),
                                     headers: ["Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"])
        XCTAssertEqual(own.status, 202, "\(own.object)")
    }

    /// A push of 1,000 tiny JPEGs that each claim 4000 × 4000 pixels took a minute of CPU to refuse and stalled
    /// health checks. Their headers are summed against the push's pixel budget before any is decoded.
    func testAPushClaimingHugeImagesIsRefusedFromItsHeaders() throws {
        // A real 16 × 16 JPEG whose frame header is made to say 4000 × 4000 (libjpeg fills the missing rest).
        var jpeg = JPEGEncoder.encode(RGBImage(width: 16, height: 16, red: 200, green: 30, blue: 30))
        let frame = try XCTUnwrap((0 ..< jpeg.count - 9).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg.replaceSubrange(frame + 5 ..< frame + 9, with: [0x0F, 0xA0, 0x0F, 0xA0])
        XCTAssertEqual(try ImageDecoder.dimensions(of: jpeg).width, 4000)
        let item: [String: Any] = ["image": jpeg.base64EncodedString(), "question": "What?", "answer": "red"]
        let start = Date()
        let pushed = try server.request("POST", "/v1/tasks", json: ["name": "claims", "items": Array(repeating: item, count: 1000)])
        XCTAssertEqual(pushed.status, 413, "\(pushed.object)")
        XCTAssertEqual(code(pushed.object), "push_too_large")
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        XCTAssertEqual(try server.request("GET", "/healthz").status, 200)
    }

    /// 32 held-open 63 MB uploads pinned 2.8 GB. Bodies over 1 MiB now go to disk as they arrive: eight
    /// uploads that each send 24 of a declared 60 MB and stall leave the server's memory where it was, and
    /// valid queries are answered meanwhile.
    func testHeldOpenUploadsTakeDiskNotMemory() throws {
        XCTAssertEqual(try server.request("POST", "/v1/answer", json: ServerLifecycleTests.query).status, 200)
        let idle = try residentMegabytes()
        let chunk = String(repeating: "a", count: 1 << 20)
        let uploads = try (0 ..< 8).map { _ in try SocketClient(port: server.port) }
        for upload in uploads {
            upload.send("POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(60 << 20)\r\n\r\n")
            for _ in 0 ..< 24 { upload.send(chunk) }
        }
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(try server.request("POST", "/v1/answer", json: ServerLifecycleTests.query).status, 200)
        let held = try residentMegabytes()
        XCTAssertLessThan(held - idle, 64, "192 MB of held-open uploads took \(held - idle) MB of memory")
        withExtendedLifetime(uploads) {}
    }

    private func residentMegabytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])! / 1024
    }

    private func peakResidentMegabytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])! / 1024
    }
}
