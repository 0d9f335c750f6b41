import DuckDB
import SwiftProtobuf
import Worker
import WorkerProtocol
import XCTest

/// Query errors cross the hop in band: the gateway must raise the very error the in-process
/// worker raised, so that both front doors render it as in `serve`.
final class WireFailureTests: XCTestCase {
    /// The error as the gateway sees it after the failure crossed the network as bytes.
    func acrossTheWire(_ error: any Error) throws -> any Error {
        try WireFailure(serializedBytes: WireFailure(error).serializedData()).error
    }

    func testEveryDuckDBErrorClassComesBackAsItself() throws {
        for type in DuckDBErrorType.allCases {
            let error = DuckDBError(type, "\(type) Error: something went wrong")
            XCTAssertEqual(try acrossTheWire(error) as? DuckDBError, error, "\(type)")
        }
        // Empty message, odd text.
        for error in [DuckDBError(.catalog, ""), DuckDBError(.parser, "Parser Error: syntax error at or near \"\u{0}\" 🦆")] {
            XCTAssertEqual(try acrossTheWire(error) as? DuckDBError, error)
        }
    }

    func testEveryScreenRejectionComesBackAsItself() throws {
        let rejections: [StatementScreen.Rejection] = [
            .tooLong(bytes: 109, limit: 64), .tooLong(bytes: Int.max, limit: 0),
            .unterminatedComment(position: 12, near: "/* open"), .unterminatedComment(position: 1, near: ""),
            .unsupported("this statement would invalidate the database"),
        ]
        for rejection in rejections {
            XCTAssertEqual(try acrossTheWire(rejection) as? StatementScreen.Rejection, rejection, "\(rejection)")
        }
    }

    func testEveryLoadErrorComesBackAsItself() throws {
        let errors: [LoadError] = [
            .tableExists("\"main\".\"t\""), .tableMissing("t"), .unsupportedType(column: "c", type: "float16"),
            .unsupportedType(column: "", type: ""),
        ]
        for error in errors {
            XCTAssertEqual(try acrossTheWire(error) as? LoadError, error, "\(error)")
        }
    }

    func testCancellationComesBackAsCancellation() throws {
        XCTAssertTrue(try acrossTheWire(CancellationError()) is CancellationError)
    }

    func testWorkerUnavailableComesBackAsItself() throws {
        let error = WorkerUnavailable("the worker is draining and opens no new sessions")
        XCTAssertEqual(try acrossTheWire(error) as? WorkerUnavailable, error)
    }

    func testInputTheWorkerCouldNotReadIsAnInvalidInputError() throws {
        // A version skew between gateway and worker reads like bad client input, not a crash.
        let error = try XCTUnwrap(try acrossTheWire(WireError("200 does not fit Int8")) as? DuckDBError)
        XCTAssertEqual(error.type, .invalidInput)
        XCTAssertTrue(error.message.hasPrefix("Invalid Input Error: "), error.message)
        XCTAssertTrue(error.message.contains("200 does not fit Int8"), error.message)
    }

    func testAnyOtherErrorMeansTheWorkerIsUnavailable() throws {
        struct Strange: Error {}
        let error = try XCTUnwrap(try acrossTheWire(Strange()) as? WorkerUnavailable)
        XCTAssertTrue(error.message.contains("Strange"), error.message)
    }

    func testUnknownCodesAndSourcesDoNotTrap() throws {
        // A newer worker may send codes this gateway does not know.
        var failure = WireFailure()
        failure.source = .duckdb
        failure.code = 9_999
        failure.message = "Brand New Error: x"
        XCTAssertEqual(failure.error as? DuckDBError, DuckDBError(.invalid, "Brand New Error: x"))

        failure = WireFailure()
        failure.source = .screen
        failure.code = 77
        failure.text = "what"
        XCTAssertEqual(failure.error as? StatementScreen.Rejection, .unsupported("what"))

        failure = WireFailure()
        failure.source = .screen
        failure.code = 0
        failure.first = .min
        failure.second = .max
        XCTAssertEqual(failure.error as? StatementScreen.Rejection, .tooLong(bytes: Int(Int64.min), limit: Int(Int64.max)))

        failure = WireFailure()
        failure.source = .unknownSession
        XCTAssertTrue(failure.error is WorkerUnavailable)

        // A source number from the future, through bytes.
        failure = WireFailure()
        failure.source = .UNRECOGNIZED(42)
        failure.message = "from the future"
        let back = try WireFailure(serializedBytes: failure.serializedData())
        XCTAssertEqual(back.error as? WorkerUnavailable, WorkerUnavailable("from the future"))
    }
}
