import DuckDB
import GRPCCore
import XCTest

@testable import FlightSQL

/// DuckDB's error classes → gRPC status codes, with real DuckDB errors.
final class ErrorMappingTests: XCTestCase {
    func code(of sql: String, options: [String: String] = [:]) -> RPCError.Code? {
        do {
            let conn = try Database(DatabaseConfiguration(options: options)).connect()
            try conn.execute(sql)
            return nil
        } catch {
            return rpcError(error).code
        }
    }

    func testDuckDBErrorClasses() {
        XCTAssertEqual(code(of: "SELEC 1"), .invalidArgument)
        XCTAssertEqual(code(of: "SELECT * FROM no_such_table"), .invalidArgument)
        XCTAssertEqual(code(of: "SELECT * FROM read_csv('/etc/hostname')", options: ["enable_external_access": "false"]),
                       .permissionDenied)
        XCTAssertEqual(code(of: "SELECT list(range) FROM range(50000000)", options: ["memory_limit": "8MB", "temp_directory": ""]),
                       .resourceExhausted)
        XCTAssertEqual(rpcError(DuckDBError(.interrupt, "INTERRUPT Error: Interrupted!")).code, .cancelled)
    }
}
