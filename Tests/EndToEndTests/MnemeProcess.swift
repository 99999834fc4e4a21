import Foundation
import Synchronization
import TestSupport
import XCTest

/// A real `mneme serve` process on loopback: started from the built executable, ready when `/readyz` answers
/// 200, stopped with SIGTERM or killed with SIGKILL.
final class MnemeProcess: @unchecked Sendable {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtureModel = repository.appendingPathComponent("Tests/Fixtures/models/mha_untied_default_m2_f32")

    /// The `mneme` executable next to this test bundle (`swift build --build-tests` builds both).
    static var executable: URL {
        get throws {
            let directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            let candidate = directory.appendingPathComponent("mneme")
            guard FileManager.default.isExecutableFile(atPath: candidate.path) else {
                throw XCTSkip("no mneme executable at \(candidate.path): run `swift build --build-tests` before `swift test --skip-build`")
            }
            return candidate
        }
    }

    let process = Process()
    let log: URL
    private(set) var port: UInt16 = 0

    /// Starts `mneme serve` with `arguments` (port 0: the kernel picks one, read back from the log).
    init(data: URL, arguments: [String] = [], environment: [String: String] = [:]) throws {
        log = data.deletingLastPathComponent().appendingPathComponent("\(data.lastPathComponent)-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = try Self.executable
        process.arguments = ["serve", "--model", Self.fixtureModel.path, "--data", data.path, "--port", "0", "--public-directory",
                             Self.repository.appendingPathComponent("public").path] + arguments
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try waitUntilReady()
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    private func waitUntilReady(timeout: TimeInterval = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard process.isRunning else { throw Failure("mneme exited with \(process.terminationStatus):\n\(output)") }
            if port == 0, let range = output.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = UInt16(output[range].split(separator: ":").last!)!
            }
            if port != 0, (try? request("GET", "/readyz").status) == 200 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw Failure("mneme was not ready within \(timeout) s:\n\(output)")
    }

    /// One request on a fresh connection; the body decoded as a JSON object when it is one.
    @discardableResult
    func request(_ method: String, _ path: String, json: Any? = nil, body: Data? = nil, contentType: String? = nil,
                 headers: [String: String] = [:], timeout: Int = 60) throws -> (status: Int, object: [String: Any], response: SocketClient.Response) {
        let client = try SocketClient(port: port, timeoutSeconds: timeout)
        var allHeaders = headers
        var payload = body ?? Data()
        if let json {
            payload = try JSONSerialization.data(withJSONObject: json)
            allHeaders["Content-Type"] = "application/json"
        }
        if let contentType { allHeaders["Content-Type"] = contentType }
        allHeaders["Connection"] = "close"
        client.sendRequest(method, path, headers: allHeaders, body: payload)
        let response = try client.readResponse()
        let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:]
        return (response.status, object, response)
    }

    /// Polls `GET /v1/jobs/{id}` until the job is done or failed; returns it.
    func waitForJob(_ id: String, timeout: TimeInterval = 180) throws -> [String: Any] {
        var last: [String: Any] = [:]
        try eventually(timeout, "job \(id): \(last)\n\(output.suffix(2000))") {
            last = try request("GET", "/v1/jobs/\(id)").object
            return ["done", "failed"].contains(last["state"] as? String)
        }
        return last
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// SIGKILL, as a crash or an OOM kill would.
    func crash() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Waits until the process exits by itself (a crash point), returning whether it was SIGKILLed.
    func waitForCrash(timeout: TimeInterval = 120) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        guard !process.isRunning else { return false }
        return process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(_ timeout: TimeInterval = 120, _ message: @autoclosure () -> String = "", _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        Thread.sleep(forTimeInterval: 0.1)
    }
    XCTFail("timed out after \(timeout) s \(message())")
    throw MnemeProcess.Failure("timed out")
}

/// Closed-loop query clients against one server, recording which snapshot answered and every failure.
final class QueryLoad: @unchecked Sendable {
    private let stopped = Atomic<Bool>(false)
    private let group = DispatchGroup()
    private let state = Mutex<(snapshots: [String], failures: [String])>(([], []))

    init(_ server: MnemeProcess, clients: Int = 2, query: @escaping @Sendable () -> [String: Any]) {
        for _ in 0 ..< clients {
            DispatchQueue.global().async(group: group) { [self] in
                while !stopped.load(ordering: .relaxed) {
                    do {
                        let response = try server.request("POST", "/v1/answer", json: query())
                        if response.status == 200, let snapshot = response.object["snapshot"] as? String {
                            state.withLock { $0.snapshots.append(snapshot) }
                        } else {
                            state.withLock { $0.failures.append("\(response.status) \(response.response.text.prefix(200))") }
                        }
                    } catch {
                        state.withLock { $0.failures.append("\(error)") }
                    }
                }
            }
        }
    }

    /// Stops the clients and returns (snapshots that answered, in order; failures).
    func finish() -> (snapshots: [String], failures: [String]) {
        stopped.store(true, ordering: .relaxed)
        group.wait()
        return state.withLock { $0 }
    }
}
