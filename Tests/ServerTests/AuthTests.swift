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

    /// Writes from other sites are refused, token or not: a foreign Host (DNS rebinding), a foreign Origin,
    /// a cross-site fetch; the server's own page, curl and IP addresses pass.
    func testWritesFromOtherSitesAreRefused() {
        func write(_ headers: HTTPHeaders, auth: Authorization = Authorization(token: nil, host: "127.0.0.1")) -> String? {
            do {
                try auth.authorizeWrite(HTTPRequest(method: .post, uri: "/v1/rollback", headers: headers))
                return nil
            } catch { return (error as? HTTPError)?.code ?? "\(error)" }
        }
        XCTAssertNil(write([:]), "no Host (HTTP/1.0 tools)")
        XCTAssertNil(write(["Host": "127.0.0.1:8080"]))
        XCTAssertNil(write(["Host": "localhost:8080", "Origin": "http://localhost:8080", "Sec-Fetch-Site": "same-origin"]), "the page itself")
        XCTAssertNil(write(["Host": "[::1]:8080", "Origin": "http://[::1]:8080"]))
        XCTAssertNil(write(["Host": "10.1.2.3:8080"]), "an IP address cannot be rebound")
        XCTAssertEqual(write(["Host": "attacker.example"]), "foreign_host")
        XCTAssertEqual(write(["Host": "attacker.example:8080"], auth: Authorization(token: "t", host: "127.0.0.1")), "foreign_host", "token or not")
        XCTAssertEqual(write(["Host": "127.0.0.1:8080", "Origin": "https://attacker.example"]), "foreign_origin")
        XCTAssertEqual(write(["Host": "127.0.0.1:8080", "Origin": "null"]), "foreign_origin")
        XCTAssertEqual(write(["Host": "127.0.0.1:8080", "Origin": "http://127.0.0.1:9999"]), "foreign_origin", "another port is another origin")
        XCTAssertEqual(write(["Host": "127.0.0.1:8080", "Sec-Fetch-Site": "cross-site"]), "foreign_origin")
        let named = Authorization(token: "t", host: "0.0.0.0", allowedHosts: ["Mneme.Example.org"])
        XCTAssertEqual(write(["Host": "mneme.example.org", "Authorization": "Bearer t"], auth: named), nil)
        XCTAssertEqual(write(["Host": "other.example.org", "Authorization": "Bearer t"], auth: named), "foreign_host")
    }

    func testConstantTimeComparison() {
        XCTAssertTrue(Authorization.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        XCTAssertFalse(Authorization.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        XCTAssertFalse(Authorization.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        XCTAssertFalse(Authorization.constantTimeEqual([], Array("a".utf8)))
    }
}
