import DuckDB
import Logging
import Worker
import WorkerTesting
import XCTest

@testable import Scheduler

/// Sessions kept under a client's cookie, over the fake worker: whose they are, how many,
/// and when they close.
final class ClientSessionsTests: XCTestCase {
    let t0 = ContinuousClock.now

    func sessions(_ worker: FakeWorker, limits: ClientSessions.Limits = .init()) -> ClientSessions {
        let scheduler = Scheduler(worker: worker, slots: 2, maxQueued: 10, logger: Logger(label: "test"))
        return ClientSessions(scheduler: scheduler, idleLifetime: .seconds(600), unconfirmedLifetime: .seconds(60), limits: limits)
    }

    func opens(_ worker: FakeWorker) -> Int { worker.calls.filter { if case .open = $0 { true } else { false } }.count }

    func testANameOpensOneSessionOnlyItsUserReaches() async throws {
        let worker = FakeWorker()
        let s = sessions(worker)
        let first = try await s.open("n1", user: "alice", now: t0)
        let again = try await s.open("n1", user: "alice", now: t0)
        XCTAssertTrue(first === again)
        XCTAssertEqual(opens(worker), 1)
        XCTAssertTrue(s.session("n1", user: "alice", now: t0) === first)
        XCTAssertNil(s.session("n1", user: "bob", now: t0))
        do {
            _ = try await s.open("n1", user: "bob", now: t0)
            XCTFail("bob opened alice's session")
        } catch let error as QueryError {
            XCTAssertEqual(error.kind, .unknownHandle)
        }
        XCTAssertFalse(s.close("n1", user: "bob"))
        XCTAssertTrue(s.close("n1", user: "alice"))
        XCTAssertNil(s.session("n1", user: "alice", now: t0))
        XCTAssertEqual(s.count, 0)
    }

    func testHowManyAreOpenIsBoundedPerUserAndInAll() async throws {
        let s = sessions(FakeWorker(), limits: .init(perUser: 2, total: 3))
        _ = try await s.open("a1", user: "alice", now: t0)
        _ = try await s.open("a2", user: "alice", now: t0)
        await assertQueueFull { _ = try await s.open("a3", user: "alice", now: self.t0) }
        _ = try await s.open("b1", user: "bob", now: t0)
        await assertQueueFull { _ = try await s.open("c1", user: "carol", now: self.t0) }
        s.close("a1", user: "alice")
        _ = try await s.open("c1", user: "carol", now: t0)
    }

    func testIdleSessionsCloseAndOnesNobodyCameBackForCloseSooner() async throws {
        let worker = FakeWorker()
        let s = sessions(worker)
        // Opened by a call that carried no cookie: nobody may ever come back for it.
        _ = try await s.open("handed-out", user: "alice", sentByClient: false, now: t0)
        _ = try await s.open("kept", user: "alice", sentByClient: false, now: t0)
        _ = s.session("kept", user: "alice", now: t0 + .seconds(30))  // the client came back
        XCTAssertEqual(s.expire(now: t0 + .seconds(61)), 1)
        XCTAssertNil(s.session("handed-out", user: "alice", now: t0 + .seconds(61)))
        XCTAssertNotNil(s.session("kept", user: "alice", now: t0 + .seconds(61)))
        XCTAssertEqual(s.expire(now: t0 + .seconds(61 + 599)), 0)
        XCTAssertEqual(s.expire(now: t0 + .seconds(61 + 600)), 1)
        XCTAssertEqual(s.count, 0)
    }

    func testCloseAllClosesEverySession() async throws {
        let worker = FakeWorker()
        let s = sessions(worker)
        _ = try await s.open("a", user: "alice", now: t0)
        _ = try await s.open("b", user: "bob", now: t0)
        s.closeAll()
        XCTAssertEqual(s.count, 0)
        for _ in 0..<200 where worker.calls.filter({ $0 == .close }).count < 2 {
            try? await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertEqual(worker.calls.filter { $0 == .close }.count, 2)
    }

    func assertQueueFull(_ body: () async throws -> Void, file: StaticString = #filePath, line: UInt = #line) async {
        do {
            try await body()
            XCTFail("expected a refusal", file: file, line: line)
        } catch let error as QueryError {
            guard case .queueFull = error.kind else { return XCTFail("\(error)", file: file, line: line) }
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }
}
