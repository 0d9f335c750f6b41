import FlightProtocol
import Arrow
import Foundation
import SwiftProtobuf
import XCTest

@testable import FlightSQL

final class CommandTests: XCTestCase {
    func testPackedStatementQueryDecodes() throws {
        var query = Arrow_Flight_Protocol_Sql_CommandStatementQuery()
        query.query = "SELECT 1"
        let cmd = try Google_Protobuf_Any(message: query).serializedData()
        guard case .statementQuery(let sql, _) = try Command.decode(cmd) else { return XCTFail("wrong command") }
        XCTAssertEqual(sql, "SELECT 1")
    }

    func testPlainSQLIsAStatementQuery() throws {
        for text in ["SELECT 1", "select * from t", "WITH x AS (SELECT 1) SELECT * FROM x", "  values (1)"] {
            guard case .statementQuery(let sql, _) = try Command.decode(Data(text.utf8)) else { return XCTFail(text) }
            XCTAssertEqual(sql, text)
        }
    }

    func testGarbageIsRejectedNotCrashed() {
        XCTAssertThrowsError(try Command.decode(Data([0xFF, 0xFE, 0x00, 0x80])))
        XCTAssertThrowsError(try Command.decode(Data()))
    }


    func testParameterConversion() throws {
        let schema = Schema([Field("a", .int(bitWidth: 64, signed: true), nullable: true),
                             Field("b", .utf8, nullable: true)])
        let batch = RecordBatch(schema: schema, columns: [
            Build.fixed([Int64(41), nil], type: .int(bitWidth: 64, signed: true)),
            Build.strings(["x", "y"]),
        ], length: 2)
        let rows = try ArrowParameters.rows(of: batch)
        // A NULL keeps its column's type.
        XCTAssertEqual(rows, [[.int64(41), .varchar("x")], [.typedNull(.bigint), .varchar("y")]])
    }
}
