import DuckDB
import Logging
import XCTest

@testable import Worker

final class EmbeddedWorkerTests: XCTestCase {
    func makeWorker(parseThreads: Int = 2, perUser: Int = 1, maxStatementBytes: Int = 1 << 20) throws -> EmbeddedWorker {
        try EmbeddedWorker(
            configuration: WorkerConfiguration(
                database: DatabaseConfiguration(), executionThreads: 2, parseThreads: parseThreads,
                parseThreadsPerUser: perUser, maxStatementBytes: maxStatementBytes),
            logger: Logger(label: "test"))
    }

    func testClientSQLIsScreenedBeforeDuckDB() async throws {
        let worker = try makeWorker(maxStatementBytes: 64)
        let session = try await worker.openEmbeddedSession(SessionOptions(user: "a"))
        let statement = try await session.prepare("SELECT /* a /* b */ */ 42 AS v")
        XCTAssertEqual(statement.description.columns.map(\.name), ["v"])
        do {
            _ = try await session.prepare("SELECT '" + String(repeating: "x", count: 100) + "'")
            XCTFail("expected tooLong")
        } catch let e as StatementScreen.Rejection {
            XCTAssertEqual(e, .tooLong(bytes: 109, limit: 64))
        }
        do {
            _ = try await session.run("SELECT 1 /* open")
            XCTFail("expected an unterminated comment")
        } catch let e as StatementScreen.Rejection {
            guard case .unterminatedComment = e else { return XCTFail("\(e)") }
        }
        let changed = try await session.run("CREATE TABLE t AS SELECT 1 AS a; INSERT INTO t VALUES (2), (3)")
        XCTAssertEqual(changed, 2)
    }

    func testInterruptEndsTheWaitForAParseAtOnce() async throws {
        let worker = try makeWorker(parseThreads: 1, perUser: 1)
        let session = try await worker.openEmbeddedSession(SessionOptions(user: "a"))
        // About a second of parsing (an IN list of 100,000 elements); DuckDB cannot stop it.
        let slow = "SELECT 1 IN (" + Array(repeating: "1", count: 100_000).joined(separator: ",") + ")"
        let clock = ContinuousClock()
        let started = clock.now
        let parse = Task { try await session.prepare(slow) }
        try await Task.sleep(for: .milliseconds(100))
        session.interrupt()
        do {
            _ = try await parse.value
            // The parse may have been quicker than the interrupt on a fast machine.
        } catch let e as DuckDBError {
            XCTAssertEqual(e.type, .interrupt)
            XCTAssertLessThan(clock.now - started, .milliseconds(900), "the wait should end at the interrupt")
        }
        // The session's next call waits for the abandoned parse, then works.
        let next = try await session.prepare("SELECT 2 AS v")
        XCTAssertEqual(next.description.columns.map(\.name), ["v"])
        XCTAssertEqual(worker.parseGate.snapshot.active, 0)
    }

    func testAnInternalErrorMarksTheDatabaseInvalidated() throws {
        let worker = try makeWorker()
        XCTAssertNil(worker.invalidatedReason)
        worker.observe(DuckDBError(.binder, "Binder Error: no such column"))
        XCTAssertNil(worker.invalidatedReason)
        worker.observe(DuckDBError(.internalError, "INTERNAL Error: Information loss on integer cast"))
        XCTAssertEqual(worker.invalidatedReason, "INTERNAL Error: Information loss on integer cast")
        worker.observe(DuckDBError(.fatal, "FATAL Error: later"))
        XCTAssertEqual(worker.invalidatedReason, "INTERNAL Error: Information loss on integer cast")
    }
}
