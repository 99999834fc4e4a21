import TestSupport
import Foundation
import Synchronization
import XCTest
@testable import HTTP

/// The real server on loopback with an ephemeral port, driven by a plain socket client.
final class HTTPServerTests: XCTestCase {
    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
        var current: Int { value.load(ordering: .relaxed) }
    }
    private let handlersStarted = Counter()
    private let clientLeft = Counter()

    private func makeRouter() -> Router {
        var router = Router(logger: quietLogger())
        router.get("/hello") { request, _ in
            .text("hello \(request.query["name"] ?? "nobody") from \(request.remoteAddress ?? "?")")
        }
        router.post("/echo") { request, _ in
            var response = HTTPResponse.file(request.body, contentType: request.headers["Content-Type"] ?? "none")
            response.headers["X-Body-Length"] = String(request.body.count)
            return response
        }
        router.post("/v1/answer") { request, _ in
            let form = try request.multipartFormData()
            return try .json(form.parts.map { ["name": $0.name, "filename": $0.filename ?? "", "bytes": String($0.data.count)] })
        }
        router.get("/slow") { [handlersStarted] request, _ in
            handlersStarted.value.add(1, ordering: .relaxed)
            let milliseconds = Int(request.query["ms"] ?? "300")!
            try await Task.sleep(for: .milliseconds(milliseconds))
            return .text("slept \(milliseconds)")
        }
        router.get("/until-gone") { [clientLeft] request, _ in
            // Long work that looks at its client: says after how many milliseconds it saw it go, or that it stayed.
            let start = ContinuousClock.now
            while start.duration(to: .now) < .seconds(3) {
                if request.clientHasGone() {
                    clientLeft.value.store(Int(start.duration(to: .now) / .milliseconds(1)) + 1, ordering: .relaxed)
                    return .text("gone")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            return .text("stayed")
        }
        router.serveStaticFiles(StaticFiles(root: URL(fileURLWithPath: #filePath).deletingLastPathComponent()))
        return router
    }

    private func startServer(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws -> HTTPServer {
        var configuration = HTTPServerConfiguration(port: 0, threadPoolSize: 2, connectionTimeoutSeconds: 5,
                                                    maxBodySize: 64 * 1024, shutdownGracePeriod: .seconds(3))
        configure(&configuration)
        let server = HTTPServer(configuration: configuration, router: makeRouter(), logger: serverLogger())
        try server.start()
        addTeardownBlock { server.stop() }
        return server
    }

    /// Calls the blocking `stop()` on a thread of its own, off the cooperative pool.
    private func stopInBackground(_ server: HTTPServer) -> XCTestExpectation {
        let stopped = expectation(description: "stopped")
        Thread.detachNewThread {
            server.stop()
            stopped.fulfill()
        }
        return stopped
    }

    func testGetAndPostRoundTrip() throws {
        let server = try startServer()
        XCTAssertNotEqual(server.port, 0)
        let client = try SocketClient(port: server.port!)
        client.sendRequest("GET", "/hello?name=r%C3%A9mi+b")
        let hello = try client.readResponse()
        XCTAssertEqual(hello.status, 200)
        XCTAssertEqual(hello.text, "hello rémi b from 127.0.0.1")

        let payload = Data((0..<20_000).map { UInt8($0 % 251) })
        client.sendRequest("POST", "/echo", headers: ["Content-Type": "application/octet-stream"], body: payload)
        let echo = try client.readResponse()
        XCTAssertEqual(echo.status, 200)
        XCTAssertEqual(echo.header("Content-Type"), "application/octet-stream")
        XCTAssertEqual(echo.header("X-Body-Length"), "20000")
        XCTAssertEqual(echo.body, payload)

        client.sendRequest("PUT", "/hello")
        let wrongMethod = try client.readResponse()
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.header("Allow"), "GET, HEAD")
        XCTAssertEqual(wrongMethod.errorCode, "method_not_allowed")
        XCTAssertEqual(wrongMethod.header("Content-Type"), "application/json; charset=utf-8")
    }

    func testKeepAliveServesSeveralRequestsOnOneConnection() throws {
        let server = try startServer()
        let client = try SocketClient(port: server.port!)
        for index in 0..<5 {
            client.sendRequest("POST", "/echo", body: Data("request \(index)".utf8))
            let response = try client.readResponse()
            XCTAssertEqual(response.text, "request \(index)")
            XCTAssertNotEqual(response.header("Connection")?.lowercased(), "close")
        }
        // HEAD gets the GET route's headers without a body; the next answer must not be garbled.
        client.sendRequest("HEAD", "/hello?name=x")
        let head = try client.readResponse(bodyExpected: false)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), String("hello x from 127.0.0.1".utf8.count))
        client.sendRequest("GET", "/hello?name=y")
        XCTAssertEqual(try client.readResponse().text, "hello y from 127.0.0.1")
        // Pipelined: two requests in one write.
        client.send("GET /hello?name=p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello?name=p2 HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "hello p1 from 127.0.0.1")
        XCTAssertEqual(try client.readResponse().text, "hello p2 from 127.0.0.1")
    }

    func testDeclaredContentLengthOverTheLimitIsRefusedWithoutReadingTheBody() throws {
        let server = try startServer()
        for expectContinue in [false, true] {
            let client = try SocketClient(port: server.port!)
            // Declares 100 MB and sends none of it: the answer can only come from the header fields.
            client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n"
                        + (expectContinue ? "Expect: 100-continue\r\n" : "") + "\r\n")
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 413, "no 100 Continue before the refusal")
            XCTAssertEqual(response.errorCode, "body_too_large")
            XCTAssertTrue(response.text.contains("65536"))
            XCTAssertTrue(client.isClosedByServer(), "the unread body makes the connection unusable")
        }
        let client = try SocketClient(port: server.port!)
        client.sendRequest("GET", "/hello")
        XCTAssertEqual(try client.readResponse().status, 200)
    }

    func testChunkedBodyOverTheLimitGets413AndTheConnectionStaysUsable() throws {
        let server = try startServer()
        let client = try SocketClient(port: server.port!)
        var request = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        let chunk = String(repeating: "z", count: 16 * 1024)
        for _ in 0..<6 { request += String(16 * 1024, radix: 16) + "\r\n" + chunk + "\r\n" }  // 96 KiB > 64 KiB
        request += "0\r\n\r\n"
        client.send(request)
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(response.errorCode, "body_too_large")
        client.sendRequest("POST", "/echo", body: Data("still here".utf8))
        XCTAssertEqual(try client.readResponse().text, "still here")

        // A body within the limit, chunked, arrives whole.
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "hello world")
    }

    func testEndlessChunkedBodyIsCutOff() throws {
        let server = try startServer()
        let client = try SocketClient(port: server.port!)
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = Data((String(64 * 1024, radix: 16) + "\r\n" + String(repeating: "z", count: 64 * 1024) + "\r\n").utf8)
        var sent = 0
        while sent < 8 << 20, client.send(chunk) { sent += chunk.count }
        XCTAssertLessThan(sent, 8 << 20, "the server should stop reading well before 8 MB")
        XCTAssertTrue(client.isClosedByServer())
        let other = try SocketClient(port: server.port!)
        other.sendRequest("GET", "/hello")
        XCTAssertEqual(try other.readResponse().status, 200)
    }

    func testSlowHandlersRunConcurrentlyAndDoNotBlockLibraryThreads() throws {
        let server = try startServer { $0.threadPoolSize = 2 }
        let count = 40
        let clients = try (0..<count).map { _ in try SocketClient(port: server.port!) }
        let start = ContinuousClock.now
        for client in clients { client.sendRequest("GET", "/slow?ms=400") }
        // While they sleep, a fast request on another connection is answered at once.
        let fast = try SocketClient(port: server.port!)
        fast.sendRequest("GET", "/hello")
        XCTAssertEqual(try fast.readResponse().status, 200)
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(300), "a fast request waited for slow ones")
        for client in clients { XCTAssertEqual(try client.readResponse().text, "slept 400") }
        let elapsed = ContinuousClock.now - start
        // On 2 blocked MHD threads this would take 40 / 2 × 400 ms = 8 s.
        XCTAssertLessThan(elapsed, .milliseconds(1500), "handlers did not overlap: \(elapsed)")
    }

    func testAHandlerSeesItsClientGo() throws {
        let server = try startServer()
        do {
            let client = try SocketClient(port: server.port!)
            client.sendRequest("GET", "/until-gone")
            usleep(200_000)
        }  // closed here, with its handler still working
        let deadline = ContinuousClock.now + .seconds(2)
        while clientLeft.current == 0, ContinuousClock.now < deadline { usleep(10_000) }
        XCTAssertGreaterThan(clientLeft.current, 150, "the handler saw the client go only once it had gone")
        XCTAssertLessThan(clientLeft.current, 1000, "the handler saw the client go soon after")

        clientLeft.value.store(0, ordering: .relaxed)
        let staying = try SocketClient(port: server.port!)
        staying.sendRequest("GET", "/until-gone")
        XCTAssertEqual(try staying.readResponse().text, "stayed", "a client that waits is not taken for gone")
        XCTAssertEqual(clientLeft.current, 0)
    }

    func testClientsThatGoAwayLeakNothing() throws {
        // poll notices at once that the clients went away.
        try checkClientsGoingAwayLeakNothing(eventLoop: .poll, timeoutSeconds: 30, within: .seconds(1))
    }

    func testClientsThatGoAwayLeakNothingWithEpoll() throws {
        // libmicrohttpd 0.9.75's epoll may miss a close that comes with the last bytes; the
        // connection timeout still releases everything.
        try checkClientsGoingAwayLeakNothing(eventLoop: .automatic, timeoutSeconds: 1, within: .seconds(3))
    }

    private func checkClientsGoingAwayLeakNothing(
        eventLoop: HTTPServerConfiguration.EventLoop, timeoutSeconds: Int, within limit: Duration
    ) throws {
        let server = try startServer {
            $0.eventLoop = eventLoop
            $0.connectionTimeoutSeconds = timeoutSeconds
        }
        do {
            // Mid-upload.
            let client = try SocketClient(port: server.port!)
            client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n" + String(repeating: "a", count: 1000))
        }
        do {
            // While its handler runs (the connection is suspended then).
            let client = try SocketClient(port: server.port!)
            client.sendRequest("GET", "/slow?ms=100")
        }
        do {
            // Right after the header fields.
            let client = try SocketClient(port: server.port!)
            client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        }
        let deadline = ContinuousClock.now + limit
        while (server.liveRequestContextCount > 0 || server.runningRequestCount > 0) && ContinuousClock.now < deadline {
            usleep(10_000)
        }
        XCTAssertEqual(server.liveRequestContextCount, 0, "request states leaked")
        XCTAssertEqual(server.runningRequestCount, 0)
        let client = try SocketClient(port: server.port!)
        client.sendRequest("GET", "/hello")
        XCTAssertEqual(try client.readResponse().status, 200)
    }

    func testStopFinishesRequestsInFlight() throws {
        let server = try startServer()
        let port = server.port!
        let clients = try (0..<5).map { _ in try SocketClient(port: port) }
        for client in clients { client.sendRequest("GET", "/slow?ms=400") }
        while handlersStarted.current < clients.count { usleep(1_000) }

        let stopStart = ContinuousClock.now
        let stopped = stopInBackground(server)
        // New connections are refused at once, while the running requests go on.
        var refused = false
        while !refused && ContinuousClock.now - stopStart < .milliseconds(250) {
            refused = (try? SocketClient(port: port)) == nil
            if !refused { usleep(5_000) }
        }
        XCTAssertTrue(refused, "still accepting connections during stop()")
        for client in clients {
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.text, "slept 400")
            XCTAssertEqual(response.header("Connection")?.lowercased(), "close")
        }
        wait(for: [stopped], timeout: 5)
        XCTAssertGreaterThan(ContinuousClock.now - stopStart, .milliseconds(200), "stop() did not wait")
        XCTAssertFalse(server.isRunning)
        XCTAssertNil(server.port)
        XCTAssertThrowsError(try SocketClient(port: port), "still accepting connections after stop()")
        XCTAssertEqual(server.liveRequestContextCount, 0)
    }

    func testStopAnswers503WhenTheGracePeriodRunsOut() throws {
        let server = try startServer { $0.shutdownGracePeriod = .milliseconds(200) }
        let client = try SocketClient(port: server.port!)
        client.sendRequest("GET", "/slow?ms=60000")
        while handlersStarted.current < 1 { usleep(1_000) }
        let start = ContinuousClock.now
        let stopped = stopInBackground(server)
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 503)
        XCTAssertEqual(response.errorCode, "shutting_down")
        wait(for: [stopped], timeout: 5)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
    }

    func testMultipartFromCurl() throws {
        // curl builds the body: an encoder independent of ours.
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else { throw XCTSkip("no curl") }
        let server = try startServer()
        let image = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString).png")
        try Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: image)
        defer { try? FileManager.default.removeItem(at: image) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-F", "question=what shape?", "-F", "image=@\(image.path);type=image/png",
                             "http://127.0.0.1:\(server.port!)/v1/answer"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let parts = try JSONSerialization.jsonObject(with: data) as? [[String: String]]
        XCTAssertEqual(parts ?? [], [["name": "question", "filename": "", "bytes": "11"],
                                     ["name": "image", "filename": image.lastPathComponent, "bytes": "3000"]])
    }

    func testTraversalOverTheWire() throws {
        let server = try startServer()
        for target in ["/../Package.swift", "/%2e%2e/Package.swift", "/%2e%2e%2fPackage.swift", "/..%5cPackage.swift"] {
            let client = try SocketClient(port: server.port!)
            client.send("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try client.readResponse()
            XCTAssertTrue([400, 404].contains(response.status), "\(target): \(response.status)")
            XCTAssertFalse(response.text.contains("PackageDescription"), target)
        }
        let client = try SocketClient(port: server.port!)
        client.sendRequest("GET", "/RouterTests.swift")
        let file = try client.readResponse()
        XCTAssertEqual(file.status, 200)
        XCTAssertTrue(file.text.contains("final class RouterTests"))
    }

    func testStartFailures() throws {
        let server = try startServer()
        let second = HTTPServer(configuration: .init(port: server.port!), router: Router(), logger: quietLogger())
        XCTAssertThrowsError(try second.start()) { error in
            guard case .startFailed(_, _, let reason) = error as? HTTPServerError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.lowercased().contains("in use") || reason.lowercased().contains("bind"), reason)
        }
        XCTAssertThrowsError(try server.start()) { XCTAssertEqual($0 as? HTTPServerError, .alreadyStarted) }
        let badHost = HTTPServer(configuration: .init(host: "example.com", port: 0), router: Router())
        XCTAssertThrowsError(try badHost.start()) { XCTAssertEqual($0 as? HTTPServerError, .invalidHost("example.com")) }
    }

    func testIPv6Loopback() throws {
        let server = try startServer { $0.host = "::1" }
        XCTAssertNotNil(server.port)
    }

    /// A client that sends a header line every half second is cut at the head deadline although it is never
    /// idle; a body that trickles is cut at the body deadline; requests on other connections go on.
    func testTrickledHeadsAndBodiesAreCutAtTheirDeadlines() throws {
        let server = try startServer {
            $0.headDeadlineSeconds = 1
            $0.bodyDeadlineSeconds = 2
        }
        let head = try SocketClient(port: server.port!)
        head.send("GET /hello HTTP/1.1\r\nHost: x\r\n")
        let body = try SocketClient(port: server.port!)
        body.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        let start = ContinuousClock.now
        var headCut: Duration?, bodyCut: Duration?
        while ContinuousClock.now - start < .seconds(5), headCut == nil || bodyCut == nil {
            if headCut == nil, !head.send(Data("X-Trickle: 1\r\n".utf8)) { headCut = ContinuousClock.now - start }
            if bodyCut == nil, !body.send(Data("a".utf8)) { bodyCut = ContinuousClock.now - start }
            let other = try SocketClient(port: server.port!)
            other.sendRequest("GET", "/hello")
            XCTAssertEqual(try other.readResponse().status, 200, "others are served meanwhile")
            Thread.sleep(forTimeInterval: 0.5)
        }
        let headAfter = try XCTUnwrap(headCut, "the trickled head was never cut")
        let bodyAfter = try XCTUnwrap(bodyCut, "the trickled body was never cut")
        XCTAssertGreaterThanOrEqual(headAfter, .milliseconds(900))
        XCTAssertLessThan(headAfter, .seconds(3))
        XCTAssertGreaterThanOrEqual(bodyAfter, .milliseconds(1900))
        XCTAssertLessThan(bodyAfter, .seconds(4))
    }

    /// Bodies that together would pass the buffered-body budget get 503 with Retry-After before they are
    /// read; the budget comes back when a request ends.
    func testBodiesBeyondTheBufferedBudgetAre503WithRetryAfter() throws {
        let server = try startServer {
            $0.maxBodySize = 40_000
            $0.maxBufferedBodyBytes = 64_000
        }
        let first = try SocketClient(port: server.port!)
        first.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n" + String(repeating: "a", count: 100))
        Thread.sleep(forTimeInterval: 0.2)
        let second = try SocketClient(port: server.port!)
        second.sendRequest("POST", "/echo", body: Data(repeating: 98, count: 30_000))
        let refused = try second.readResponse()
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.header("Retry-After"), "2")
        XCTAssertTrue(refused.text.contains("server_busy"), refused.text)
        first.send(String(repeating: "a", count: 39_900))
        XCTAssertEqual(try first.readResponse().status, 200)
        let third = try SocketClient(port: server.port!)
        third.sendRequest("POST", "/echo", body: Data(repeating: 98, count: 30_000))
        XCTAssertEqual(try third.readResponse().status, 200, "the first body's budget came back")
    }

    private func residentBytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    /// Bodies over the spool threshold are written to disk while they arrive: held-open uploads hold no
    /// memory, the handler still gets every byte, and the files are gone as they are made.
    func testLargeBodiesArriveOnDiskNotInMemory() throws {
        let spool = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: spool) }
        let server = try startServer {
            $0.maxBodySize = 64 << 20
            $0.maxBufferedBodyBytes = 8 << 20
            $0.spoolDirectory = spool.path
            $0.spoolThresholdBytes = 1 << 20
            $0.maxSpooledBodyBytes = 200 << 20
            $0.bodyDeadlineSeconds = 60
        }
        // Twelve uploads declaring 16 MiB each send 12 MiB and stall: 144 MiB, far past the memory budget.
        let chunk = String(repeating: "z", count: 1 << 20)
        let before = residentBytes()
        let stalled = try (0 ..< 12).map { _ in try SocketClient(port: server.port!) }
        for client in stalled {
            client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(16 << 20)\r\n\r\n")
            for _ in 0 ..< 12 { client.send(chunk) }
        }
        Thread.sleep(forTimeInterval: 0.5)
        let held = residentBytes() - before
        XCTAssertLessThan(held, 48 << 20, "held-open uploads hold \(held >> 20) MiB of memory")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: spool.path), [], "spool files have no name")

        // Meanwhile a small request is answered, and a large one arrives whole.
        let small = try SocketClient(port: server.port!)
        small.sendRequest("GET", "/hello")
        XCTAssertEqual(try small.readResponse().status, 200)
        var large = Data((0 ..< (3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        large.append(contentsOf: [1, 2, 3])
        let whole = try SocketClient(port: server.port!)
        whole.sendRequest("POST", "/echo", body: large)
        let echoed = try whole.readResponse()
        XCTAssertEqual(echoed.status, 200)
        XCTAssertEqual(echoed.body, large, "the spooled body reaches the handler byte for byte")

        // The spool budget: 12 × 16 MiB reserved of 200; a 16 MiB more fits nowhere.
        let refused = try SocketClient(port: server.port!)
        refused.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(16 << 20)\r\n\r\n")
        XCTAssertEqual(try refused.readResponse().status, 503)
    }
}
