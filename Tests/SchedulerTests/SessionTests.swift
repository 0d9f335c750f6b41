import DuckDB
import Logging
import Worker
import WorkerTesting
import XCTest

@testable import Scheduler

/// The session behaviour both front doors share, over the fake worker.
final class SessionTests: XCTestCase {
    func scheduler(_ worker: FakeWorker, slots: Int = 1) -> Scheduler {
        Scheduler(worker: worker, slots: slots, maxQueued: 10, logger: Logger(label: "test"))
    }

    func testAResultHoldsItsSlotUntilItIsReadToTheEnd() async throws {
        let worker = FakeWorker(["SELECT v": .integers("v", [1, 2])])
        let s = scheduler(worker)
        let session = try await s.openSession(user: "a", door: .postgres)
        let statement = try await session.prepare("SELECT v")
        let result = try await session.execute(statement)
        XCTAssertEqual(s.admission.snapshot.running, 1)
        let first = try await result.next()
        XCTAssertNotNil(first)
        XCTAssertEqual(s.admission.snapshot.running, 1)
        let end = try await result.next()
        XCTAssertNil(end)
        XCTAssertEqual(s.admission.snapshot.running, 0)
    }

    func testTransactionControlNeedsNoSlot() async throws {
        let worker = FakeWorker(["SELECT v": .integers("v", [1]), "COMMIT": .command(.transaction)])
        let s = scheduler(worker)
        let session = try await s.openSession(user: "a", door: .postgres)
        let query = try await session.execute(try await session.prepare("SELECT v"))
        // The only slot is taken by an unread result; COMMIT still runs.
        let commit = try await session.execute(try await session.prepare("COMMIT"))
        XCTAssertEqual(s.admission.snapshot.running, 1)
        commit.close()
        query.close()
        XCTAssertEqual(s.admission.snapshot.running, 0)
        XCTAssertFalse(AdmissionRule.needsSlot(.transaction))
        XCTAssertFalse(AdmissionRule.needsSlot(.variableSet))
        XCTAssertTrue(AdmissionRule.needsSlot(.select))
        XCTAssertTrue(AdmissionRule.needsSlot(.copy))
    }

    func testAnErrorInsideATransactionFailsItUntilItEnds() async throws {
        let worker = FakeWorker(["bad": .failing(DuckDBError(.binder, "Binder Error: x"))])
        let s = scheduler(worker)
        let session = try await s.openSession(user: "a", door: .postgres)
        do { _ = try await session.prepare("bad") } catch {}
        XCTAssertEqual(session.transactionStatus, .idle, "outside a block an error changes nothing")
        try await session.beginTransaction()
        XCTAssertEqual(session.transactionStatus, .inTransaction)
        do { _ = try await session.prepare("bad") } catch {}
        XCTAssertEqual(session.transactionStatus, .failed)
        try await session.rollback()
        XCTAssertEqual(session.transactionStatus, .idle)
        try await session.beginTransaction()
        XCTAssertEqual(session.transactionStatus, .inTransaction, "a new block starts clean")
        session.noteError()
        XCTAssertEqual(session.transactionStatus, .failed, "the front door's own errors fail the block too")
    }

    func testStatementTimeoutInterruptsAndReportsItself() async throws {
        let worker = FakeWorker()
        let session = try await scheduler(worker).openSession(user: "a", door: .postgres)
        session.statementTimeout = .milliseconds(20)
        do {
            // A worker call that runs until it is interrupted, as DuckDB's do.
            try await session.withStatementTimeout {
                while !worker.calls.contains(.interrupt) { try await Task.sleep(for: .milliseconds(5)) }
                throw DuckDBError(.interrupt, "INTERRUPT Error: Interrupted!")
            }
            XCTFail("expected a timeout")
        } catch let e as QueryError {
            XCTAssertEqual(e.kind, .statementTimeout)
        } catch is CancellationError {
            XCTFail("the timeout must be reported as such")
        }
        XCTAssertTrue(worker.calls.contains(.interrupt))
        session.statementTimeout = .zero
        XCTAssertNil(session.statementTimeout)
    }

    func testClosingFreesTheWorkerSession() async throws {
        let worker = FakeWorker(["SELECT v": .integers("v", [1])])
        let s = scheduler(worker)
        let session = try await s.openSession(user: "a", door: .postgres)
        let statement = try await session.prepare("SELECT v")
        await session.close(statement)
        await session.close(statement)
        XCTAssertEqual(worker.calls.filter { $0 == .closeStatement("SELECT v") }.count, 1, "closed once")
        XCTAssertEqual(s.sessions.count, 1)
        session.close()
        XCTAssertEqual(s.sessions.count, 0)
        for _ in 0..<100 where !worker.calls.contains(.close) { try await Task.sleep(for: .milliseconds(10)) }
        XCTAssertTrue(worker.calls.contains(.close))
    }

    func testCancelKeysAreCheckedWholly() async throws {
        let s = scheduler(FakeWorker())
        let session = try await s.openSession(user: "a", door: .postgres)
        XCTAssertFalse(s.sessions.cancel(processID: session.processID, secretKey: session.secretKey &+ 1))
        XCTAssertFalse(s.sessions.cancel(processID: session.processID &+ 1, secretKey: session.secretKey))
        XCTAssertTrue(s.sessions.cancel(processID: session.processID, secretKey: session.secretKey))
    }
}

final class QueryErrorTests: XCTestCase {
    func testDuckDBMessagesSplitIntoMessageDetailAndPosition() throws {
        let sql = "SELECT *\nFROM nosuch"
        let e = DuckDBError(.catalog, "Catalog Error: Table with name nosuch does not exist!\nDid you mean \"t\"?\n\nLINE 2: FROM nosuch\n             ^")
        let q = try XCTUnwrap(QueryError.from(e, sql: sql))
        XCTAssertEqual(q.kind, .engine(.catalog))
        XCTAssertEqual(q.message, "Table with name nosuch does not exist!")
        XCTAssertEqual(q.detail, "Did you mean \"t\"?")
        XCTAssertEqual(q.position, 15)
    }

    func testEveryErrorOfTavanasMakingHasAKind() {
        XCTAssertEqual(QueryError.from(DuckDBError(.interrupt, "INTERRUPT Error: Interrupted!"))?.kind, .cancelled)
        XCTAssertEqual(QueryError.from(AdmissionController.AdmissionError.queueFull(limit: 3))?.kind, .queueFull(limit: 3))
        XCTAssertEqual(QueryError.from(StatementScreen.Rejection.tooLong(bytes: 9, limit: 8))?.kind, .statementTooLong)
        XCTAssertEqual(QueryError.from(StatementScreen.Rejection.unterminatedComment(position: 3, near: "/*"))?.position, 3)
        XCTAssertEqual(QueryError.from(LoadError.tableExists("t"))?.kind, .tableExists)
        XCTAssertEqual(QueryError.from(CancellationError())?.kind, .cancelled)
        struct Other: Error {}
        XCTAssertNil(QueryError.from(Other()))
    }
}
