import XCTest

import FlightProtocol
@testable import FlightSQL

/// Reading the Flight SQL session cookie from Cookie headers, and the option statements.
final class SessionCookieTests: XCTestCase {
    let cookie = "0f8fad5b-d9cb-469f-a165-70867728950e"

    func testTheSessionNameIsFoundAmongCookies() {
        XCTAssertEqual(FlightSessionCookieInterceptor.sessionName(in: ["arrow_flight_session_id=\(cookie)"]), cookie)
        XCTAssertEqual(FlightSessionCookieInterceptor.sessionName(in: ["a=1; arrow_flight_session_id=\(cookie); b=2"]), cookie)
        XCTAssertEqual(FlightSessionCookieInterceptor.sessionName(in: ["a=1", " arrow_flight_session_id = \(cookie) "]), cookie)
        XCTAssertNil(FlightSessionCookieInterceptor.sessionName(in: []))
        XCTAssertNil(FlightSessionCookieInterceptor.sessionName(in: ["other=\(cookie)"]))
    }

    func testOnlyNamesInTheFormTheServerHandsOutAreTaken() {
        for bad in [cookie.uppercased(), "x", "", String(repeating: "a", count: 10_000), cookie + "0", "'; DROP TABLE t; --",
                    "0f8fad5b-d9cb-469f-a165-70867728950\u{0}"] {
            XCTAssertNil(FlightSessionCookieInterceptor.sessionName(in: ["arrow_flight_session_id=\(bad)"]), bad)
        }
    }

    func testOptionsBecomeStatementsWithQuotedNamesAndValues() {
        XCTAssertEqual(FlightSQLService.statement(setting: "catalog", to: .with { $0.stringValue = "my\"lake" }), "USE \"my\"\"lake\"")
        XCTAssertEqual(FlightSQLService.statement(setting: "schema", to: .with { $0.stringValue = "it's" }), "SET schema = 'it''s'")
        XCTAssertEqual(FlightSQLService.statement(setting: "TimeZone", to: .with { $0.stringValue = "UTC" }), "SET TimeZone = 'UTC'")
        XCTAssertEqual(FlightSQLService.statement(setting: "threads", to: .with { $0.int64Value = 3 }), "SET threads = 3")
        XCTAssertEqual(FlightSQLService.statement(setting: "x", to: .with { $0.boolValue = true }), "SET x = true")
        XCTAssertEqual(FlightSQLService.statement(setting: "search_path", to: .with { $0.stringListValue.values = ["a", "b'"] }),
                       "SET search_path = ['a', 'b''']")
        // Names that are not identifiers, values that cannot be literals, a catalog that is not a string.
        XCTAssertNil(FlightSQLService.statement(setting: "a; DROP TABLE t", to: .with { $0.stringValue = "1" }))
        XCTAssertNil(FlightSQLService.statement(setting: "1abc", to: .with { $0.stringValue = "1" }))
        XCTAssertNil(FlightSQLService.statement(setting: "x", to: .with { $0.doubleValue = .nan }))
        XCTAssertNil(FlightSQLService.statement(setting: "x", to: .init()))
        XCTAssertNil(FlightSQLService.statement(setting: "catalog", to: .with { $0.int64Value = 1 }))
    }
}
