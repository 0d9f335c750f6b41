import DuckDB
import Foundation
import NIOPosix
@testable import RemoteWorker
import Worker
import WorkerEndpoint
import XCTest

/// The gateway's workers behind one WorkerService: sessions spread over the healthy ones,
/// and a worker that is gone is passed over. Which worker holds a session is read from the
/// workers' own session counts.
final class WorkerPoolTests: XCTestCase {
    func startPool(_ addresses: [WorkerAddress], heartbeat: Duration = .milliseconds(200)) throws -> WorkerPool {
        let pool = try WorkerPool(discovery: .addresses(addresses), gateway: GatewayName(id: "g1", epoch: 1),
                                  eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: quietLogger,
                                  heartbeat: heartbeat)
        let running = Task { try await pool.run() }
        addTeardownBlock {
            // run() goes on until cancelled (it would look workers up again); cancelling it
            // closes every worker's connection.
            pool.shutdown()
            running.cancel()
            await settle(running, within: .seconds(5))
        }
        return pool
    }

    func testSessionsSpreadOverEveryHealthyWorker() async throws {
        let a = try await startWorker(id: "a")
        let b = try await startWorker(id: "b")
        let pool = try startPool([a.address, b.address])
        let bothHealthy = await eventually(within: .seconds(10)) { pool.health.healthy == 2 }
        XCTAssertTrue(bothHealthy, "\(pool.health)")
        XCTAssertEqual(pool.slots, 8, "four slots on each")

        var sessions: [any WorkerSession] = []
        for _ in 0..<20 { sessions.append(try await open(pool)) }
        XCTAssertEqual(a.endpoint.sessionCount + b.endpoint.sessionCount, 20)
        XCTAssertGreaterThan(a.endpoint.sessionCount, 0, "worker a got no session")
        XCTAssertGreaterThan(b.endpoint.sessionCount, 0, "worker b got no session")
        // Each session works wherever it landed.
        for session in sessions {
            let one = try await scalar(session, "SELECT 1::BIGINT")
            XCTAssertEqual(one, 1)
        }
        for session in sessions { await session.close() }
        XCTAssertEqual(a.endpoint.sessionCount + b.endpoint.sessionCount, 0)
    }

    /// Stateless sessions follow the load at their next statement: a worker that joins gets
    /// some of the sessions already open, a session holding a temporary table stays, and
    /// every session ends up open on one worker only (the one it left is closed).
    func testStatelessSessionsMoveToAWorkerThatJoins() async throws {
        let a = try await startWorker(id: "a")
        let b = try await startWorker(id: "b")
        let pool = try startPool([a.address])
        let aHealthy = await eventually(within: .seconds(10)) { pool.health.healthy == 1 }
        XCTAssertTrue(aHealthy, "\(pool.health)")
        var sessions: [any WorkerSession] = []
        for _ in 0..<6 { sessions.append(try await open(pool)) }
        _ = try await sessions[0].run("CREATE TEMP TABLE mine AS SELECT 1 AS v")
        XCTAssertEqual(a.endpoint.sessionCount, 6)

        try pool.reconcile([a.address, b.address])
        let bHealthy = await eventually(within: .seconds(10)) { pool.health.healthy == 2 }
        XCTAssertTrue(bHealthy, "\(pool.health)")
        for session in sessions {
            let one = try await scalar(session, "SELECT 1::BIGINT")
            XCTAssertEqual(one, 1)
        }
        let settled = await eventually(within: .seconds(5)) { a.endpoint.sessionCount + b.endpoint.sessionCount == 6 }
        XCTAssertTrue(settled, "sessions left behind were not closed: a \(a.endpoint.sessionCount), b \(b.endpoint.sessionCount)")
        XCTAssertGreaterThanOrEqual(b.endpoint.sessionCount, 2, "too few sessions moved")
        XCTAssertGreaterThanOrEqual(a.endpoint.sessionCount, 2, "too many sessions moved")
        // The pinned one stayed with its temporary table.
        let v = try await scalar(sessions[0], "SELECT v::BIGINT FROM mine")
        XCTAssertEqual(v, 1)
        for session in sessions { await session.close() }
        let closed = await eventually(within: .seconds(5)) { a.endpoint.sessionCount + b.endpoint.sessionCount == 0 }
        XCTAssertTrue(closed)
    }

    func testAStoppedWorkerIsPassedOver() async throws {
        let a = try await startWorker(id: "a")
        let b = try await startWorker(id: "b")
        let pool = try startPool([a.address, b.address])
        let bothHealthy = await eventually(within: .seconds(10)) { pool.health.healthy == 2 }
        XCTAssertTrue(bothHealthy, "\(pool.health)")

        await b.stopServing()
        // Straight away, before any heartbeat has noticed, and after.
        for _ in 0..<10 {
            let session = try await open(pool)
            let one = try await scalar(session, "SELECT 1::BIGINT")
            XCTAssertEqual(one, 1)
        }
        XCTAssertEqual(a.endpoint.sessionCount, 10, "every session went to the worker still serving")
        XCTAssertEqual(b.endpoint.sessionCount, 0)
        let noticed = await eventually(within: .seconds(10)) { pool.health == (healthy: 1, unhealthy: 1) }
        XCTAssertTrue(noticed, "\(pool.health)")
    }

    func testAPoolWithNoReachableWorkerFailsPromptly() async throws {
        let closed = try await closedPort()
        let pool = try startPool([closed])
        let clock = ContinuousClock()
        let started = clock.now
        let answered = await pool.waitForAWorker(timeout: .seconds(1))
        XCTAssertFalse(answered)
        let error = await expectError(WorkerUnavailable.self) { _ = try await pool.openSession(SessionOptions(user: "u")) }
        XCTAssertNotNil(error)
        _ = await expectError(WorkerUnavailable.self) { _ = try await pool.vocabulary() }
        XCTAssertLessThan(clock.now - started, .seconds(10))
    }

    func testAWorkerThatIsNotListeningFailsPromptly() async throws {
        // Nothing listens there: calls fail at once with WorkerUnavailable, never hang.
        let closed = try await closedPort()
        let gateway = try await connect(to: closed, waitForHealth: false)
        let clock = ContinuousClock()
        let started = clock.now
        let hello = await gateway.remote.hello()
        XCTAssertFalse(hello)
        XCTAssertFalse(gateway.remote.isHealthy)
        let error = await expectError(WorkerUnavailable.self) {
            _ = try await gateway.remote.openSession(SessionOptions(user: "u"))
        }
        XCTAssertTrue(error?.message.contains("\(closed)") ?? false, "the error names the worker: \(String(describing: error))")
        _ = await expectError(WorkerUnavailable.self) { _ = try await gateway.remote.vocabulary() }
        XCTAssertLessThan(clock.now - started, .seconds(10))
        XCTAssertEqual(gateway.remote.openSessions, 0)
    }

    func testVocabularyComesFromAWorker() async throws {
        let a = try await startWorker(id: "a")
        let pool = try startPool([a.address])
        let answered = await pool.waitForAWorker(timeout: .seconds(10))
        XCTAssertTrue(answered)
        let vocabulary = try await pool.vocabulary()
        XCTAssertFalse(vocabulary.keywords.isEmpty)
        XCTAssertFalse(vocabulary.typeNames.isEmpty)
    }

    func testWorkerAddressesParse() {
        XCTAssertEqual(WorkerAddress(parsing: "worker-1:7000"), WorkerAddress(host: "worker-1", port: 7000))
        XCTAssertEqual(WorkerAddress(parsing: " 10.0.0.2:1 "), WorkerAddress(host: "10.0.0.2", port: 1))
        XCTAssertEqual(WorkerAddress(parsing: "[::1]:7000"), WorkerAddress(host: "::1", port: 7000))
        XCTAssertEqual(WorkerAddress(host: "::1", port: 7000).description, "[::1]:7000")
        XCTAssertEqual(WorkerAddress(host: "w", port: 7000).description, "w:7000")
        for bad in ["", "w", "w:", ":7000", "w:0", "w:65536", "w:-1", "w:x", "[]:7000"] {
            XCTAssertNil(WorkerAddress(parsing: bad), bad)
        }
    }

    /// Which hosts are dialled as IPv4 addresses (never sent as a TLS server name).
    func testIPv4LiteralsAreToldFromNames() {
        for literal in ["127.0.0.1", "10.0.0.255", "0.0.0.0"] { XCTAssertTrue(RemoteWorker.isIPv4Literal(literal), literal) }
        for name in ["worker-1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "a.b.c.d", "１.2.3.4", "1.2.3.4a", ""] {
            XCTAssertFalse(RemoteWorker.isIPv4Literal(name), name)
        }
    }

    /// An address on this machine where nothing listens: a port a server just gave back.
    func closedPort() async throws -> WorkerAddress {
        let worker = try await LocalWorker.start()
        let address = worker.address
        await worker.stop()
        return address
    }
}
