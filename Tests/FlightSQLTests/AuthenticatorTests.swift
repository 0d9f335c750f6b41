import Foundation
import GRPCCore
import XCTest

@testable import FlightSQL

final class AuthenticatorTests: XCTestCase {
    func testBasicThenBearer() throws {
        let auth = FlightAuthenticator { user, password in user == "alice" && password == "pw" }
        let basic = "Basic " + Data("alice:pw".utf8).base64EncodedString()
        let (token, user) = try auth.authenticate(basic)
        XCTAssertEqual(user, "alice")
        let again = try auth.authenticate("Bearer \(token)")
        XCTAssertEqual(again.token, token)
        XCTAssertEqual(again.user, "alice")
        XCTAssertThrowsError(try auth.authenticate("Bearer nope"))
        XCTAssertThrowsError(try auth.authenticate("Basic " + Data("alice:bad".utf8).base64EncodedString()))
        XCTAssertThrowsError(try auth.authenticate("Basic !!!"))
        XCTAssertThrowsError(try auth.authenticate(nil))
        XCTAssertThrowsError(try auth.authenticate("Digest x"))
    }
}
