import DuckDB
import Logging
import Worker
import WorkerTesting
import XCTest

@testable import Scheduler

/// Which session a call without a connection of its own runs in, over the fake worker.
final class SessionLeasesTests: XCTestCase {
    let alice = LeaseOwner(peer: "ipv4:127.0.0.1:5001", user: "alice")
    let bob = LeaseOwner(peer: "ipv4:127.0.0.1:5002", user: "bob")

    func leases(_ worker: FakeWorker, idle: Duration = .seconds(60)) -> SessionLeases {
        let scheduler = Scheduler(worker: worker, slots: 2, maxQueued: 10, logger: Logger(label: "test"))
        return SessionLeases(scheduler: scheduler, statementIdleLifetime: idle)
    }

    /// Sessions close in a task of their own; waits (up to two seconds) for `call` to show.
    func waitFor(_ worker: FakeWorker, count: Int, of call: FakeWorker.Call, file: StaticString = #filePath, line: UInt = #line) async {
        for _ in 0..<200 {
            if worker.calls.filter({ $0 == call }).count >= count { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
        XCTFail("expected \(count) × \(call), saw \(worker.calls)", file: file, line: line)
    }

    func assertUnknownHandle(_ body: () async throws -> Void, file: StaticString = #filePath, line: UInt = #line) async {
        do {
            try await body()
            XCTFail("expected unknownHandle", file: file, line: line)
        } catch let error as QueryError {
            XCTAssertEqual(error.kind, .unknownHandle, file: file, line: line)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }

    func testATransactionIsReachedOnlyByItsOwner() async throws {
        let worker = FakeWorker()
        let leases = leases(worker)
        let id = try await leases.beginTransaction(owner: alice)
        XCTAssertEqual(worker.calls.filter { $0 == .begin }.count, 1)
        let session = try leases.transactionSession(id, owner: alice)
        XCTAssertEqual(session.user, "alice")
        XCTAssertEqual(session.transactionStatus, .inTransaction)
        // The same user over another connection (ADBC may open several) reaches it too.
        _ = try leases.transactionSession(id, owner: LeaseOwner(peer: "other", user: "alice"))
        await assertUnknownHandle { _ = try leases.transactionSession(id, owner: self.bob) }
        await assertUnknownHandle { try await leases.endTransaction(id, commit: true, owner: self.bob) }
        XCTAssertEqual(leases.counts.transactions, 1, "a stranger's commit leaves the transaction open")
        try await leases.endTransaction(id, commit: true, owner: alice)
        XCTAssertEqual(worker.calls.filter { $0 == .commit }.count, 1)
        await waitFor(worker, count: 1, of: .close)
        XCTAssertEqual(leases.counts.transactions, 0)
        await assertUnknownHandle { try await leases.endTransaction(id, commit: false, owner: self.alice) }
    }

    func testAClosedConnectionRollsBackItsTransactionsOnly() async throws {
        let worker = FakeWorker()
        let leases = leases(worker)
        _ = try await leases.beginTransaction(owner: alice)
        _ = try await leases.beginTransaction(owner: alice)
        let bobs = try await leases.beginTransaction(owner: bob)
        XCTAssertNil(leases.soleTransaction(of: alice), "two open: which one is not for us to guess")
        XCTAssertEqual(leases.soleTransaction(of: bob), bobs)
        XCTAssertEqual(leases.connectionClosed(peer: alice.peer), 2)
        await waitFor(worker, count: 2, of: .rollback)
        await waitFor(worker, count: 2, of: .close)
        XCTAssertEqual(leases.counts.transactions, 1)
        _ = try leases.transactionSession(bobs, owner: bob)
        XCTAssertEqual(leases.connectionClosed(peer: "nobody"), 0)
    }

    func testAStatementOwnsItsSessionUnlessPreparedInATransaction() async throws {
        let worker = FakeWorker(["SELECT v": .integers("v", [1])])
        let leases = leases(worker)
        let alone = try await leases.prepare("SELECT v", inTransaction: nil, owner: alice)
        let transaction = try await leases.beginTransaction(owner: alice)
        let inside = try await leases.prepare("SELECT v", inTransaction: transaction, owner: alice)
        XCTAssertTrue(inside.session === (try leases.transactionSession(transaction, owner: alice)))
        XCTAssertFalse(alone.session === inside.session)

        // Closing the statement inside the transaction frees the statement, not the session.
        leases.closeStatement(inside.id, owner: alice)
        await waitFor(worker, count: 1, of: .closeStatement("SELECT v"))
        XCTAssertFalse(worker.calls.contains(.close))
        _ = try leases.transactionSession(transaction, owner: alice)

        // Closing the one alone closes its session.
        leases.closeStatement(alone.id, owner: alice)
        await waitFor(worker, count: 1, of: .close)
        await assertUnknownHandle { _ = try leases.statement(alone.id, owner: self.alice) }
    }

    func testAStrangerCannotUseOrCloseAStatement() async throws {
        let worker = FakeWorker(["SELECT v": .integers("v", [1])])
        let leases = leases(worker)
        let lease = try await leases.prepare("SELECT v", inTransaction: nil, owner: alice)
        await assertUnknownHandle { _ = try leases.statement(lease.id, owner: self.bob) }
        leases.closeStatement(lease.id, owner: bob)
        XCTAssertEqual(leases.counts.statements, 1)
        XCTAssertTrue(try leases.statement(lease.id, owner: alice) === lease)
    }

    func testPreparingInAnUnknownTransactionOpensNothing() async throws {
        let worker = FakeWorker(["SELECT v": .integers("v", [1])])
        let leases = leases(worker)
        await assertUnknownHandle { _ = try await leases.prepare("SELECT v", inTransaction: "nope", owner: self.alice) }
        XCTAssertFalse(worker.calls.contains { if case .open = $0 { true } else { false } })
    }

    func testAFailedPrepareClosesTheSessionItOpened() async throws {
        let worker = FakeWorker(["bad": .failing(DuckDBError(.parser, "Parser Error: x"))])
        let leases = leases(worker)
        do {
            _ = try await leases.prepare("bad", inTransaction: nil, owner: alice)
            XCTFail("expected the parser error")
        } catch {}
        await waitFor(worker, count: 1, of: .close)
        XCTAssertEqual(leases.counts.statements, 0)
    }

    func testIdleStatementsExpireAndUseKeepsThemAlive() async throws {
        let worker = FakeWorker(["SELECT v": .integers("v", [1])])
        let leases = leases(worker, idle: .seconds(30))
        let start = ContinuousClock.now
        let used = try await leases.prepare("SELECT v", inTransaction: nil, owner: alice, now: start)
        let idle = try await leases.prepare("SELECT v", inTransaction: nil, owner: alice, now: start)
        _ = try leases.statement(used.id, owner: alice, now: start + .seconds(20))
        XCTAssertEqual(leases.expire(now: start + .seconds(29)), 0)
        XCTAssertEqual(leases.expire(now: start + .seconds(31)), 1)
        await assertUnknownHandle { _ = try leases.statement(idle.id, owner: self.alice) }
        XCTAssertTrue(try leases.statement(used.id, owner: alice, now: start + .seconds(31)) === used)
        await waitFor(worker, count: 1, of: .close)
    }

    func testCloseAllEndsEverything() async throws {
        let worker = FakeWorker(["SELECT v": .integers("v", [1])])
        let leases = leases(worker)
        _ = try await leases.prepare("SELECT v", inTransaction: nil, owner: alice)
        _ = try await leases.beginTransaction(owner: bob)
        leases.closeAll()
        XCTAssertEqual(leases.counts.transactions, 0)
        XCTAssertEqual(leases.counts.statements, 0)
        await waitFor(worker, count: 2, of: .close)
    }
}
