import HTTP
import XCTest
@testable import Server

final class AuthTests: XCTestCase {
    func request(_ header: String?) -> HTTPRequest {
        var headers: HTTPHeaders = [:]
        if let header { headers["Authorization"] = header }
        return HTTPRequest(method: .post, uri: "/v1/tasks", headers: headers)
    }

    func testTokenRequiredWhenConfigured() {
        let auth = Authorization(token: "s3cret", host: "127.0.0.1")
        XCTAssertNoThrow(try auth.authorizeWrite(request("Bearer s3cret")))
        XCTAssertThrowsError(try auth.authorizeWrite(request(nil))) { XCTAssertEqual(($0 as? HTTPError)?.status, .unauthorized) }
        XCTAssertThrowsError(try auth.authorizeWrite(request("Bearer s3cre"))) { XCTAssertEqual(($0 as? HTTPError)?.status, .unauthorized) }
        XCTAssertThrowsError(try auth.authorizeWrite(request("Basic s3cret"))) { XCTAssertEqual(($0 as? HTTPError)?.status, .unauthorized) }
    }

    func testNonLoopbackWithoutTokenRefusesWrites() {
        XCTAssertNoThrow(try Authorization(token: nil, host: "127.0.0.1").authorizeWrite(request(nil)))
        XCTAssertThrowsError(try Authorization(token: nil, host: "0.0.0.0").authorizeWrite(request(nil))) {
            XCTAssertEqual(($0 as? HTTPError)?.status, .forbidden)
        }
    }

    func testConstantTimeComparison() {
        XCTAssertTrue(Authorization.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        XCTAssertFalse(Authorization.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        XCTAssertFalse(Authorization.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        XCTAssertFalse(Authorization.constantTimeEqual([], Array("a".utf8)))
    }
}
