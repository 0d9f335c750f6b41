import DuckDB
import GRPCCore
import Scheduler
import XCTest

@testable import FlightSQL
@testable import PostgresWire

/// The one error type, rendered by both front doors: PostgreSQL's SQLSTATE and gRPC's status
/// must tell a client the same thing for every kind of error.
final class ErrorRenderingTests: XCTestCase {
    func testBothDoorsAgreeOnEveryKind() {
        let expected: [(QueryError.Kind, String, RPCError.Code)] = [
            (.queueFull(limit: 1), "53000", .resourceExhausted),
            (.queueTimeout, "53300", .resourceExhausted),
            (.cancelled, "57014", .cancelled),
            (.statementTimeout, "57014", .deadlineExceeded),
            (.statementTooLong, "54000", .invalidArgument),
            (.syntax, "42601", .invalidArgument),
            (.unsupported, "0A000", .unimplemented),
            (.tableExists, "42P07", .alreadyExists),
            (.tableMissing, "42P01", .notFound),
            (.unknownHandle, "26000", .notFound),
            (.workerUnavailable, "08006", .unavailable),
            (.invalidInput, "22023", .invalidArgument),
            (.engine(.parser), "42601", .invalidArgument),
            (.engine(.permission), "42501", .permissionDenied),
            (.engine(.outOfMemory), "53200", .resourceExhausted),
            (.engine(.internalError), "XX000", .internalError),
        ]
        for (kind, sqlState, code) in expected {
            let error = QueryError(kind, "m")
            XCTAssertEqual(ErrorTranslation.sqlState(error), sqlState, "\(kind)")
            XCTAssertEqual(statusCode(kind), code, "\(kind)")
            // Same class of trouble: a client's mistake in one door is one in the other.
            let clientError = ["42", "22", "54", "26"].contains(String(sqlState.prefix(2))) || sqlState == "0A000"
            XCTAssertEqual(clientError, [.invalidArgument, .unimplemented, .alreadyExists, .notFound, .permissionDenied].contains(code), "\(kind)")
        }
    }

    func testTheSameDuckDBErrorReadsTheSameInBoth() {
        let error = DuckDBError(.catalog, "Catalog Error: Table with name t does not exist!")
        let fields = ErrorTranslation.fields(for: error, sql: "SELECT * FROM t")
        let status = rpcError(error)
        XCTAssertEqual(fields.sqlState, "42P01")
        XCTAssertEqual(fields.message, status.message)
        let cancelled = DuckDBError(.interrupt, "INTERRUPT Error: Interrupted!")
        XCTAssertEqual(ErrorTranslation.fields(for: cancelled, sql: nil).sqlState, "57014")
        XCTAssertEqual(rpcError(cancelled).code, .cancelled)
    }
}
