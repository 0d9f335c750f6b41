import Foundation
import GRPCCore
import XCTest

@testable import FlightSQL

final class AuthenticatorTests: XCTestCase {
    func testBasicThenBearer() throws {
        let auth = FlightAuthenticator { user, password in user == "alice" && password == "pw" }
        let basic = "Basic " + Data("alice:pw".utf8).base64EncodedString()
        let token = try auth.authenticate(basic)
        XCTAssertEqual(try auth.authenticate("Bearer \(token)"), token)
        XCTAssertThrowsError(try auth.authenticate("Bearer nope"))
        XCTAssertThrowsError(try auth.authenticate("Basic " + Data("alice:bad".utf8).base64EncodedString()))
        XCTAssertThrowsError(try auth.authenticate("Basic !!!"))
        XCTAssertThrowsError(try auth.authenticate(nil))
        XCTAssertThrowsError(try auth.authenticate("Digest x"))
    }
}
