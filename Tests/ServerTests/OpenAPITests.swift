import Foundation
import HTTP
import Logging
import XCTest
@testable import Server

/// public/openapi.json describes exactly the routes the server registers.
final class OpenAPITests: XCTestCase {
    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("public/openapi.json")

    func testEveryRouteIsDocumentedAndNothingElse() throws {
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: Self.document)) as? [String: Any])
        XCTAssertTrue((object["openapi"] as? String)?.hasPrefix("3.") == true)
        let paths = try XCTUnwrap(object["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "post", "put", "patch", "delete"]
        let documented = Set(paths.flatMap { path, operations in operations.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" } })

        var configuration = ServerConfiguration(dataDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("mneme-\(UUID())"),
                                                modelDirectory: AnswerRouteTests.model)
        configuration.port = 0
        let server = try MnemeServer(configuration: configuration, logger: Logger(label: "test"))
        try server.start()
        defer {
            server.stop()
            try? FileManager.default.removeItem(at: configuration.dataDirectory)
        }
        let router = Routes.makeRouter(context: server.context, publicDirectory: nil)
        let served = Set(router.endpoints.map { "\($0.method) \($0.pattern)" })
        XCTAssertEqual(documented.subtracting(served).sorted(), [], "documented but not served")
        XCTAssertEqual(served.subtracting(documented).sorted(), [], "served but not documented")

        // Every operation documents its responses, and writes name the bearer scheme.
        for (path, operations) in paths {
            for (method, value) in operations where methods.contains(method) {
                let operation = try XCTUnwrap(value as? [String: Any])
                XCTAssertNotNil(operation["responses"], "\(method) \(path)")
            }
        }
    }
}
